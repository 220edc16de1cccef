"""Millrace's error tree.

Services raise these; the API maps them to RFC 9457 problem documents in one place
(``millrace.warehouse.api.errors``) and the CLI prints them as one line. Nothing below
the HTTP boundary raises ``HTTPException``.

    MillraceError
    ├── ConfigError            bad settings; raised at start-up          (CLI exit 2)
    ├── NotFoundError          missing, or owned by someone else          404
    ├── AuthError              no token, or an unknown one                401
    ├── PermissionDeniedError  authenticated but not allowed              403
    ├── ConflictError          state conflict (idempotency key in use)    409
    ├── InvalidInputError      bad request content: ids, CSVs, zips       422
    │   └── PayloadTooLargeError  over a configured size limit           413
    └── BackendUnavailableError  DB, storage or event bus is down         503
        └── NotReadyError         still starting up; retry (Retry-After)   503
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthError",
    "BackendUnavailableError",
    "ConfigError",
    "ConflictError",
    "InvalidInputError",
    "MillraceError",
    "NotFoundError",
    "NotReadyError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "response_headers",
]


class MillraceError(Exception):
    """Root of every error Millrace raises on purpose."""

    status_code: int = 500
    title: str = "Internal error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class ConfigError(MillraceError):
    title = "Configuration error"


class NotFoundError(MillraceError):
    status_code = 404
    title = "Not found"


class AuthError(MillraceError):
    status_code = 401
    title = "Authentication required"


class PermissionDeniedError(MillraceError):
    status_code = 403
    title = "Forbidden"


class ConflictError(MillraceError):
    status_code = 409
    title = "Conflict"


class InvalidInputError(MillraceError):
    status_code = 422
    title = "Invalid input"


class PayloadTooLargeError(InvalidInputError):
    status_code = 413
    title = "Payload too large"


class BackendUnavailableError(MillraceError):
    status_code = 503
    title = "Backend unavailable"


class NotReadyError(BackendUnavailableError):
    """Still starting up (a server loading its models): the same request works shortly,
    so the answer says when to retry, as ``Retry-After`` and ``retry_after_s``."""

    title = "Not ready"

    def __init__(self, detail: str, retry_after_s: int = 2, **extra: Any) -> None:
        super().__init__(detail, retry_after_s=retry_after_s, **extra)
        self.retry_after_s = retry_after_s


def response_headers(exc: MillraceError) -> dict[str, str] | None:
    """The HTTP headers an error's answer carries beside its problem document."""
    if isinstance(exc, AuthError):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, NotReadyError):
        return {"Retry-After": str(exc.retry_after_s)}
    return None
