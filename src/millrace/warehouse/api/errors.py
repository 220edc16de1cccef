"""Every error leaves the API as an RFC 9457 problem document, mapped here and only here."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from millrace.exceptions import MillraceError, response_headers

__all__ = ["allowed_methods", "install_error_handlers", "problem"]

log = logging.getLogger("millrace.api")
PROBLEM = "application/problem+json"
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def problem(
    status: int,
    title: str,
    detail: str,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    slug = title.lower().replace(" ", "-")
    body: dict[str, Any] = {
        "type": f"https://millrace.dev/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MillraceError)
    async def _domain(request: Request, exc: MillraceError) -> JSONResponse:
        return problem(
            exc.status_code,
            exc.title,
            exc.detail,
            request.url.path,
            response_headers(exc),
            **exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"])
        return problem(
            422, "Invalid input", f"{where}: {first['msg']}", request.url.path, errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {
            400: "Bad request",
            404: "Not found",
            405: "Method not allowed",
            413: "Payload too large",
        }.get(exc.status_code, "HTTP error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        return problem(exc.status_code, title, str(exc.detail), request.url.path, headers or None)

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, exc: DataError) -> JSONResponse:
        # The database is the one judge of what it can hold or compare: PostgreSQL refuses
        # NUL characters in text, and numbers or JSON tokens past its types. Such a value
        # came with the request; the first line of the reason names no other data.
        reason = str(exc.orig).splitlines()[0] if exc.orig else "refused by the database"
        log.warning(
            "database refused a value on %s %r: %s", request.method, request.url.path, reason
        )
        return problem(
            422,
            "Invalid input",
            f"a value in this request cannot be stored or looked up: {reason}",
            request.url.path,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(
            500,
            "Internal error",
            "an unexpected error occurred; it has been logged",
            request.url.path,
        )


def allowed_methods(request: Request) -> str:
    """Every method some route takes at this path, asked of the routes themselves: Starlette
    names only the first route that matched (GET, PATCH and DELETE of one path are three
    routes), and FastAPI's included routers are not plain routes to read methods from."""
    allowed = [
        method
        for method in _METHODS
        if any(
            not isinstance(route, Mount)
            and route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    ]
    return ", ".join(allowed) or "GET, HEAD"  # a mount (static files) reads only
