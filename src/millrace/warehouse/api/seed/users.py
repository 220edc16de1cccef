"""Seed 004's user routes over Millrace's users and tokens.

Creating a user stays an admin's act and answers with the new user's token (shown once),
since a Millrace user without one could do nothing; the seed's password is not used.
Reading and updating a user is for that user or an admin; ``is_active`` is kept and shown
but only an admin may change it, and it does not (yet) disable the user's tokens.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from millrace.exceptions import PermissionDeniedError
from millrace.warehouse.api.deps import AdminUser, CurrentUser, WarehouseDep
from millrace.warehouse.api.seed.shapes import UserResponse
from millrace.warehouse.db import read_scope, session_scope
from millrace.warehouse.users import (
    acting_owner,
    create_user,
    get_user,
    update_profile,
    user_by_username,
)

__all__ = ["router"]

router = APIRouter(prefix="/users", tags=["seed 004: users"])


class UserCreate(BaseModel):
    user_id: str
    username: str | None = Field(default=None, min_length=1, max_length=128)
    email: str | None = Field(default=None, max_length=256)
    full_name: str | None = Field(default=None, max_length=256)
    password: str | None = None
    is_admin: bool = False


class UserUpdate(BaseModel):
    username: str | None = Field(default=None, min_length=1, max_length=128)
    email: str | None = Field(default=None, max_length=256)
    full_name: str | None = Field(default=None, max_length=256)
    is_active: bool | None = None
    password: str | None = None  # accepted for the seed's clients; Millrace uses tokens


class CreatedUser(UserResponse):
    token: str


@router.post("/", response_model=CreatedUser)
def create(wh: WarehouseDep, _admin: AdminUser, body: UserCreate) -> Any:
    with session_scope(wh.sessions) as session:
        user, token = create_user(
            session,
            user_id=body.user_id,
            is_admin=body.is_admin,
            username=body.username,
            email=body.email,
            full_name=body.full_name,
        )
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
    with read_scope(wh.sessions) as session:
        found = user_by_username(session, username)
    return _read(wh, user, found.id)


@router.put("/{user_id}", response_model=UserResponse)
def update(wh: WarehouseDep, user: CurrentUser, user_id: str, body: UserUpdate) -> Any:
    owner_id = acting_owner(wh, user, user_id)
    if body.is_active is not None and not user.is_admin:
        raise PermissionDeniedError("only an admin may activate or deactivate a user")
    fields = body.model_dump(exclude={"password"}, exclude_none=True)
    with session_scope(wh.sessions) as session:
        return UserResponse.of(update_profile(session, get_user(session, owner_id), **fields))
