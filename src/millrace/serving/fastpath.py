"""The inference POSTs answered straight from ASGI, ahead of FastAPI's routing.

On a busy server FastAPI's per-request machinery (route matching over every route,
dependency solving, body parsing into a generic JSON tree, then validation, and the
exception and body-limit layers around it) cost about as much CPU as the predictions
themselves: measured here, answering these paths directly halved the CPU per request and
doubled throughput. The checks are the same, and so is the code that predicts
(``handlers``); only the plumbing is leaner:

- the body is read with the size cap applied (a declared length over it is refused before
  reading, a streamed one is cut off at it);
- the bearer token goes through the same ``TokenCache``;
- the body is validated from raw bytes by pydantic (``TypeAdapter.validate_json``): not
  JSON, a wrong shape or an unknown field is a 422 naming the field;
- errors become the same problem+json documents as everywhere else.

The FastAPI routes for these paths stay declared, for the OpenAPI schema, and run the
same handlers.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from pydantic import TypeAdapter, ValidationError
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from millrace.exceptions import MillraceError, PayloadTooLargeError, response_headers
from millrace.serving import handlers
from millrace.serving.auth import Caller, TokenCache
from millrace.serving.protocol import InferenceRequest, PredictRequest, SeedPredictRequest
from millrace.serving.service import InferenceService
from millrace.warehouse.api.errors import problem

__all__ = ["FastPath"]

log = logging.getLogger("millrace.serving")

_PREDICT = re.compile(r"/api/v1/models/(?P<name>[^/]+)/predict")
_INFER = re.compile(r"/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?/infer")
_predict_body: TypeAdapter[PredictRequest | list[dict[str, Any]]] = TypeAdapter(
    PredictRequest | list[dict[str, Any]]
)
_infer_body = TypeAdapter(InferenceRequest)
_seed_body = TypeAdapter(SeedPredictRequest)

Handler = Callable[[InferenceService, Caller, bytes, dict[str, Any], str | None], Awaitable[Any]]


def route(path: str) -> Handler | None:
    """The handler for an inference POST path, or None for any other path."""
    if path == "/predict":
        return lambda service, caller, body, state, user_id: handlers.seed_predict(
            service, caller, _seed_body.validate_json(body), state, user_id
        )
    if match := _PREDICT.fullmatch(path):
        name = match["name"]
        return lambda service, caller, body, state, user_id: handlers.predict(
            service, caller, name, _predict_body.validate_json(body), state, user_id
        )
    if match := _INFER.fullmatch(path):
        name, version = match["name"], match["version"]
        return lambda service, caller, body, state, user_id: handlers.infer(
            service, caller, name, _infer_body.validate_json(body), state, user_id, version
        )
    return None


class FastPath:
    def __init__(
        self, app: ASGIApp, service: InferenceService, tokens: TokenCache, max_body_bytes: int
    ) -> None:
        self.app = app
        self.service = service
        self.tokens = tokens
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = (
            route(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        )
        if handler is None:
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        try:
            headers = dict(scope["headers"])
            caller = await self.tokens.caller(_text(headers.get(b"authorization")))
            body = await self._body(headers, receive)
            query = parse_qs(scope["query_string"].decode("latin-1"))
            user_id = query["user_id"][0] if "user_id" in query else None
            answer = await handler(self.service, caller, body, state, user_id)
            response: Response = Response(
                json.dumps(answer, separators=(",", ":")), media_type="application/json"
            )
        except _ClientGone:
            return
        except MillraceError as exc:
            response = problem(
                exc.status_code,
                exc.title,
                exc.detail,
                scope["path"],
                response_headers(exc),
                **exc.extra,
            )
        except ValidationError as exc:
            response = _invalid(exc, scope["path"])
        except Exception:
            log.exception("unhandled error on POST %s", scope["path"])
            response = problem(
                500,
                "Internal error",
                "an unexpected error occurred; it has been logged",
                scope["path"],
            )
        await response(scope, receive, send)

    async def _body(self, headers: dict[bytes, bytes], receive: Receive) -> bytes:
        declared = headers.get(b"content-length", b"")
        limit = self.max_body_bytes
        if declared.isdigit() and int(declared) > limit:
            raise PayloadTooLargeError(_too_large(limit), limit_bytes=limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(_too_large(limit), limit_bytes=limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


class _ClientGone(Exception):
    """The client disconnected before its body ended: there is no one to answer."""


def _too_large(limit: int) -> str:
    return f"the request body is larger than the limit of {limit} bytes"


def _text(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value is not None else None


def _invalid(exc: ValidationError, path: str) -> Response:
    """Like the app's handler for FastAPI's validation errors: the first problem in
    ``detail``, all of them in ``errors``."""
    errors = [
        {"loc": ["body", *e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors(include_url=False, include_input=False)
    ]
    first = errors[0] if errors else {"loc": ["body"], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"])
    return problem(422, "Invalid input", f"{where}: {first['msg']}", path, errors=errors)
