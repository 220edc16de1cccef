"""Seed 004's user routes over Millrace's users and tokens.

Creating a user stays an admin's act and answers with the new user's token (shown once),
since a Millrace user without one could do nothing; the seed's password is not used.
Reading a user is for that user or an admin.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from millrace.warehouse.api.deps import AdminUser, CurrentUser, WarehouseDep
from millrace.warehouse.api.seed.shapes import UserResponse
from millrace.warehouse.db import read_scope, session_scope
from millrace.warehouse.users import acting_owner, create_user, get_user

__all__ = ["router"]

router = APIRouter(prefix="/users", tags=["seed 004: users"])


class UserCreate(BaseModel):
    user_id: str
    username: str | None = None
    email: str | None = None
    full_name: str | None = None
    password: str | None = None
    is_admin: bool = False


class CreatedUser(UserResponse):
    token: str


@router.post("/", response_model=CreatedUser)
def create(wh: WarehouseDep, _admin: AdminUser, body: UserCreate) -> Any:
    with session_scope(wh.sessions) as session:
        user, token = create_user(session, user_id=body.user_id, is_admin=body.is_admin)
        session.flush()
        session.refresh(user)
        return CreatedUser(**UserResponse.of(user).model_dump(), token=token)


def _read(wh: WarehouseDep, user: CurrentUser, user_id: str) -> Any:
    owner_id = acting_owner(wh, user, user_id)
    with read_scope(wh.sessions) as session:
        return UserResponse.of(get_user(session, owner_id))


@router.get("/{user_id}", response_model=UserResponse)
def get(wh: WarehouseDep, user: CurrentUser, user_id: str) -> Any:
    return _read(wh, user, user_id)


@router.get("/username/{username}", response_model=UserResponse)
def get_by_username(wh: WarehouseDep, user: CurrentUser, username: str) -> Any:
    return _read(wh, user, username)
