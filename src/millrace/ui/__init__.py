"""The web UI: static HTML, CSS and ES modules served by the API, no build step.

The pages are public files; everything they show comes from the authenticated JSON API,
called with the token the user typed (kept in ``sessionStorage``). Serving static files
keeps the UI buildable without npm and usable offline: there is no CDN and no bundler.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["STATIC_DIR", "mount_ui"]

STATIC_DIR = Path(__file__).parent / "static"

# The UI's own scripts only. Inline styles and data: images are allowed because the XAI
# reports (rendered in a sandboxed iframe that inherits this policy) embed both.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class _Hardened:
    """Adds the UI's security headers to whatever the wrapped app answers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode()) for k, v in _HEADERS.items()]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def mount_ui(app: FastAPI) -> None:
    """Serve the UI at ``/`` and its assets under ``/ui/``; the API paths stay untouched.

    Pages are addressed by the URL fragment (``/#/datasets``), so no catch-all route can
    shadow seed 004's root paths.
    """

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers=_HEADERS)

    app.mount("/ui", _Hardened(StaticFiles(directory=STATIC_DIR)), name="ui")
