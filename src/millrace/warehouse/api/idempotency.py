"""``Idempotency-Key`` for POSTs: a retried request gets the first answer, not a second upload.

The key is claimed (a row inserted) before the request runs, so two concurrent requests
with one key cannot both run: the second is told 409. Only successful (2xx) answers are
kept for replay; after an error the key is released so a corrected retry can run.

Every database call here runs in a worker thread: on SQLite a claim can wait up to the
busy timeout for another writer, and on the event loop that wait would freeze every
request the process serves, health checks included.
"""

from __future__ import annotations

import anyio
from anyio.to_thread import run_sync
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from millrace.exceptions import MillraceError
from millrace.warehouse.api.errors import problem
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import read_scope, session_scope
from millrace.warehouse.models import IdempotencyRecord
from millrace.warehouse.users import authenticate

__all__ = ["IdempotencyMiddleware"]

_MAX_STORED = 1024 * 1024


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, warehouse: Warehouse) -> None:
        self.app = app
        self.wh = warehouse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", []))
        key = headers.get(b"idempotency-key")
        if scope["type"] != "http" or scope["method"] != "POST" or not key:
            await self.app(scope, receive, send)
            return
        auth = headers.get(b"authorization", b"").decode(errors="replace")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        user_id = await run_sync(self._user_of, token)
        if user_id is None:
            await self.app(scope, receive, send)  # the route answers 401
            return
        ikey = key.decode(errors="replace")[:255]
        path = scope["path"]
        if not await run_sync(self._claim, user_id, ikey, path):
            await self._replay(scope, receive, send, user_id, ikey, path)
            return

        start: Message = {}
        chunks: list[bytes] = []
        size = 0

        async def capture(message: Message) -> None:
            nonlocal start, size
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
                if size <= _MAX_STORED:
                    chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            body = b"".join(chunks) if size <= _MAX_STORED else None
            # Shielded: a cancelled request must still store or release its key, or the
            # key would answer 409 forever.
            with anyio.CancelScope(shield=True):
                await run_sync(self._settle, user_id, ikey, start, body)

    def _user_of(self, token: str | None) -> str | None:
        try:
            with read_scope(self.wh.sessions) as session:
                return authenticate(session, token).id
        except MillraceError:
            return None

    def _claim(self, user_id: str, key: str, path: str) -> bool:
        """Insert the key's row; False if the key is already taken."""
        try:
            with session_scope(self.wh.sessions) as session:
                session.add(IdempotencyRecord(user_id=user_id, key=key, method="POST", path=path))
        except IntegrityError:
            return False
        return True

    def _stored(self, user_id: str, key: str) -> IdempotencyRecord | None:
        with read_scope(self.wh.sessions) as session:
            return session.scalars(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key
                )
            ).one_or_none()

    def _settle(self, user_id: str, key: str, start: Message, body: bytes | None) -> None:
        status = int(start.get("status", 500))
        with session_scope(self.wh.sessions) as session:
            record = session.get(IdempotencyRecord, (user_id, key))
            if record is None:
                return
            if 200 <= status < 300 and body is not None:
                ctype = dict(start.get("headers", [])).get(b"content-type", b"")
                record.status_code = status
                record.content_type = ctype.decode() or "application/json"
                record.body = body.decode("utf-8", errors="replace")
            else:
                session.execute(
                    delete(IdempotencyRecord).where(
                        IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key
                    )
                )

    async def _replay(
        self, scope: Scope, receive: Receive, send: Send, user_id: str, key: str, path: str
    ) -> None:
        record = await run_sync(self._stored, user_id, key)
        if record is None:  # released between our insert and this read: let it run again
            await self.app(scope, receive, send)
            return
        if record.path != path:
            response = problem(
                422,
                "Idempotency key reused",
                f"Idempotency-Key {key!r} was used for POST {record.path}",
                path,
            )
        elif record.status_code is None:
            response = problem(
                409, "Conflict", f"a request with Idempotency-Key {key!r} is still running", path
            )
        else:
            response = Response(
                record.body or "",
                status_code=record.status_code,
                media_type=record.content_type,
                headers={"Idempotent-Replayed": "true"},
            )
        await response(scope, receive, send)
