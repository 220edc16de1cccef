"""The warehouse's bearer tokens, checked by the inference server.

A token is checked against the warehouse database exactly as the API does
(``warehouse.users.authenticate``). The answer is cached for a few seconds, keyed by the
token's hash, so a busy client costs one database query per ``ttl_s`` instead of one per
prediction; a revoked token stops working within that window.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from millrace.exceptions import AuthError, PermissionDeniedError
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import read_scope
from millrace.warehouse.users import authenticate

__all__ = ["Caller", "TokenCache"]


@dataclass(frozen=True)
class Caller:
    user_id: str
    is_admin: bool

    def owner(self, user_id: str | None) -> str:
        """Whose models a call addresses: the caller's own, or (admins) the one named."""
        if user_id is None or user_id == self.user_id:
            return self.user_id
        if not self.is_admin:
            raise PermissionDeniedError(
                f"user_id {user_id!r} does not match the token's user {self.user_id!r}"
            )
        return user_id


class TokenCache:
    def __init__(self, warehouse: Warehouse, ttl_s: float = 5.0, capacity: int = 10_000) -> None:
        self.warehouse = warehouse
        self.ttl_s = ttl_s
        self.capacity = capacity
        self._seen: dict[str, tuple[Caller, float]] = {}
        self._lock = threading.Lock()

    async def caller(self, authorization: str | None) -> Caller:
        token = _bearer(authorization)
        key = hashlib.sha256(token.encode()).hexdigest()
        hit = self._seen.get(key)
        if hit is not None and time.monotonic() - hit[1] < self.ttl_s:
            return hit[0]
        caller = await run_in_threadpool(self._lookup, token)
        with self._lock:
            if len(self._seen) >= self.capacity:
                self._seen.clear()
            self._seen[key] = (caller, time.monotonic())
        return caller

    def _lookup(self, token: str) -> Caller:
        with read_scope(self.warehouse.sessions) as session:
            user = authenticate(session, token)
            return Caller(user.id, bool(user.is_admin))


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise AuthError("missing bearer token: send 'Authorization: Bearer <token>'")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("the Authorization header must be 'Bearer <token>'")
    return token.strip()
