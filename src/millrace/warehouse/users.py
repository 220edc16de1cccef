"""Users and API tokens.

Tokens are random 32-byte secrets shown once; only their SHA-256 is stored, so a leaked
database does not leak working credentials.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from millrace.exceptions import AuthError, ConflictError, NotFoundError, PermissionDeniedError
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import read_scope
from millrace.warehouse.ids import check_id
from millrace.warehouse.models import ApiToken, User, utcnow

__all__ = [
    "act_as",
    "acting_owner",
    "authenticate",
    "create_token",
    "create_user",
    "get_user",
    "hash_token",
    "update_profile",
    "user_by_username",
]

TOKEN_PREFIX = "mr_"  # noqa: S105 - a prefix that makes leaked tokens greppable


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(
    session: Session, *, user_id: str, is_admin: bool = False, **profile: str | None
) -> tuple[User, str]:
    """Create a user with a first token; returns the user and the token (shown once).
    ``profile``: username, email, full_name (seed 004's fields; none is required)."""
    check_id(user_id, "user_id")
    if session.get(User, user_id) is not None:
        raise ConflictError(f"user {user_id!r} already exists")
    _check_username(session, profile.get("username"), user_id)
    user = User(id=user_id, is_admin=is_admin, **_profile(profile))
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        raise ConflictError(f"user {user_id!r} already exists") from None
    return user, create_token(session, user=user)


_PROFILE = ("username", "email", "full_name", "is_active")


def _profile(fields: dict[str, object]) -> dict[str, object]:
    unknown = set(fields) - set(_PROFILE)
    if unknown:
        raise ValueError(f"not profile fields: {sorted(unknown)}")
    return {k: v for k, v in fields.items() if v is not None}


def _check_username(session: Session, username: object, user_id: str) -> None:
    if username is None:
        return
    taken = session.scalar(select(User).where(User.username == username, User.id != user_id))
    if taken is not None or (username != user_id and session.get(User, username) is not None):
        raise ConflictError(f"username {username!r} is taken")


def update_profile(session: Session, user: User, **fields: object) -> User:
    """Seed 004's ``PUT /users/{user_id}``: the fields given change, the rest stay."""
    changes = _profile(fields)
    _check_username(session, changes.get("username"), user.id)
    for name, value in changes.items():
        setattr(user, name, value)
    user.updated_at = utcnow()
    session.flush()
    return user


def user_by_username(session: Session, username: str) -> User:
    """The user with that username, else the user with that id (a user who never set a
    username is known by its id, as Millrace's own routes know it)."""
    user = session.scalar(select(User).where(User.username == username))
    return user if user is not None else get_user(session, username)


def create_token(session: Session, *, user: User, name: str = "default") -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_sha256=hash_token(token), name=name))
    session.flush()
    return token


def get_user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"user {user_id!r} not found")
    return user


def authenticate(session: Session, token: str | None) -> User:
    if not token:
        raise AuthError("missing bearer token: send 'Authorization: Bearer <token>'")
    row = session.scalars(
        select(ApiToken).where(ApiToken.token_sha256 == hash_token(token), ~ApiToken.revoked)
    ).one_or_none()
    if row is None:
        raise AuthError("the bearer token is not valid")
    return get_user(session, row.user_id)


def act_as(session: Session, actor: User, user_id: str | None) -> str:
    """The user a request acts for: the token's own, or (admins only) the one named."""
    if user_id is None or user_id == actor.id:
        return actor.id
    if not actor.is_admin:
        raise PermissionDeniedError(
            f"user_id {user_id!r} does not match the token's user {actor.id!r}"
        )
    return get_user(session, user_id).id


def acting_owner(wh: Warehouse, actor: User, user_id: str | None) -> str:
    """``act_as`` in a short transaction of its own (routes must not hold one open)."""
    with read_scope(wh.sessions) as session:
        return act_as(session, actor, user_id)
