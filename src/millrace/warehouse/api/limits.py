"""Refuse request bodies over the upload limit while they stream in.

Starlette's form parser spools files to disk without a size cap, so the cap is applied to
the raw body here: a declared Content-Length over the limit is refused before reading, and
a chunked or lying body is cut off at the limit.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from millrace.exceptions import PayloadTooLargeError
from millrace.warehouse.api.errors import problem

__all__ = ["BodyLimitMiddleware"]

_FORM_SLACK = 1024 * 1024  # multipart framing and text fields around the file


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes + _FORM_SLACK
        self.file_limit = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in {"POST", "PUT", "PATCH"}:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = problem(
                413,
                "Payload too large",
                self._message(),
                scope["path"],
                limit_bytes=self.file_limit,
            )
            await response(scope, receive, send)
            return
        seen = 0
        tripped = False
        answered = False

        async def limited() -> Message:
            nonlocal seen, tripped
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    tripped = True
                    raise PayloadTooLargeError(self._message(), limit_bytes=self.file_limit)
            return message

        async def guarded_send(message: Message) -> None:
            # Whatever the app made of the interrupted body (FastAPI turns it into a 400),
            # the client is told the real reason.
            nonlocal answered
            if not tripped:
                await send(message)
                return
            if not answered:
                answered = True
                response = problem(
                    413,
                    "Payload too large",
                    self._message(),
                    scope["path"],
                    limit_bytes=self.file_limit,
                )
                await response(scope, receive, send)

        try:
            await self.app(scope, limited, guarded_send)
        except PayloadTooLargeError:
            await guarded_send({"type": "http.response.start"})

    def _message(self) -> str:
        return (
            f"the request body is larger than the upload limit of {self.file_limit} bytes "
            "(MILLRACE_MAX_UPLOAD_BYTES)"
        )
