"""Users and tokens over HTTP (admins create users; anyone can see who they are)."""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel

from millrace.warehouse.api.deps import AdminUser, CurrentUser, WarehouseDep
from millrace.warehouse.api.schemas import UserOut
from millrace.warehouse.db import session_scope
from millrace.warehouse.users import create_user

__all__ = ["router"]

router = APIRouter(prefix="/users", tags=["users"])


class UserIn(BaseModel):
    user_id: str
    is_admin: bool = False


@router.post(
    "",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a user and its first token (admins)",
)
def create(wh: WarehouseDep, _admin: AdminUser, body: UserIn) -> UserOut:
    with session_scope(wh.sessions) as session:
        user, token = create_user(session, user_id=body.user_id, is_admin=body.is_admin)
        return UserOut(user_id=user.id, is_admin=user.is_admin, token=token)


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> UserOut:
    return UserOut(user_id=user.id, is_admin=user.is_admin)
