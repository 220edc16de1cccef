"""How ``millrace.client`` reads an answer that is not what it asked for, as one line.

Every Millrace error is an ``application/problem+json`` document and every other answer
JSON, so anything else came from some other server at that URL: the line says so and
names the flag to fix instead of repeating its bare "Not Found". A Millrace server without
the route asked for is the other one of the two (the API's port given for the inference
server's, or back), because Millrace's own 404s name what was not found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from millrace.exceptions import (
    AuthError,
    BackendUnavailableError,
    ConflictError,
    InvalidInputError,
    MillraceError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
)

__all__ = ["NotMillraceError", "Server", "UnreachableError", "read_answer", "transport_reason"]

_ERRORS: dict[int, type[MillraceError]] = {
    401: AuthError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: InvalidInputError,
    503: BackendUnavailableError,
}


class UnreachableError(BackendUnavailableError):
    """Nothing answered at the URL (refused, unknown host, timed out)."""


class NotMillraceError(MillraceError):
    """Something answered at the URL, but not as the Millrace server asked for does."""


@dataclass(frozen=True)
class Server:
    """One of the two servers a client talks to, as an error message names it."""

    name: str  # "API" or "inference server"
    flag: str  # how a user points at it
    url: str | None

    @property
    def other(self) -> str:
        return "API" if self.name == "inference server" else "inference server"


def transport_reason(exc: httpx.TransportError) -> str:
    """One line for a transport failure: httpx's own text carries errno noise."""
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    text = str(exc) or type(exc).__name__
    if "refused" in text.lower():
        return "connection refused"
    return " ".join(text.split("] ", 1)[-1].split())


def _is_problem(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith("application/problem+json")


def _stranger(response: httpx.Response, server: Server) -> NotMillraceError:
    kind = response.headers.get("content-type", "").split(";")[0] or "no content type"
    return NotMillraceError(
        f"{server.url} is not a Millrace {server.name}: {response.request.method} "
        f"{response.url.path} answered {response.status_code} {response.reason_phrase} "
        f"({kind}); check {server.flag}"
    )


def _detail(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return response.text or response.reason_phrase
    return body.get("detail", response.text) if isinstance(body, dict) else response.text


def read_answer(response: httpx.Response, server: Server) -> Any:
    """The JSON of a successful answer (None when empty), else the error to raise."""
    if response.is_success:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise _stranger(response, server) from None
    if not _is_problem(response) and (
        response.status_code < 500 or "html" in response.headers.get("content-type", "")
    ):  # (a bare 500 in plain text can be Millrace's own crash: its text is kept)
        raise _stranger(response, server)
    detail = _detail(response)
    if response.status_code == 404 and detail == "Not Found":  # no such route here
        raise NotMillraceError(
            f"{server.url} has no {response.request.method} {response.url.path}: it is a "
            f"Millrace server but not the {server.name} (the {server.other}? they listen on "
            f"different ports, 8000 and 8080 by default); check {server.flag}"
        )
    line = " ".join(str(detail).split()) or f"HTTP {response.status_code}"
    raise _ERRORS.get(response.status_code, MillraceError)(line)
