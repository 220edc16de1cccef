"""``millrace serve``: every champion model online (Open Inference Protocol v2 and JSON)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from millrace.warehouse.context import Warehouse

__all__ = ["serve", "serve_in_thread"]

log = logging.getLogger("millrace.serving")

DEFAULT_PORT = 8080


def serve(
    host: Annotated[str, typer.Option(help="Bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = DEFAULT_PORT,
    poll: Annotated[float, typer.Option(help="Seconds between registry checks")] = 1.0,
    max_body_mb: Annotated[int, typer.Option(help="Largest request body, in MiB")] = 16,
) -> None:
    """Serve the champion of every model and hot-swap it on promotion.

    Example: millrace serve --port 8080
    """
    import uvicorn

    from millrace.cli.main import load_settings
    from millrace.serving import ServeOptions, create_serving_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    app = create_serving_app(
        load_settings(),
        options=ServeOptions(poll_interval_s=poll, max_body_bytes=max_body_mb << 20),
    )
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        access_log=False,  # the request log records every call, off the request path
        timeout_graceful_shutdown=10,
    )


def serve_in_thread(warehouse: Warehouse, host: str, port: int) -> Callable[[], None]:
    """The inference server beside the API in ``millrace up``; returns its stop function.

    The port is bound here first, so a port in use is one warning and the rest of
    ``millrace up`` carries on, rather than a server thread dying half-started.
    """
    import socket
    import threading

    import uvicorn

    from millrace.serving import create_serving_app

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        log.warning("inference server not started: cannot bind %s:%s (%s)", host, port, exc)
        return lambda: None
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    app = create_serving_app(warehouse=warehouse)
    server = uvicorn.Server(uvicorn.Config(app, log_level="info", access_log=False))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="serve", daemon=True
    )
    thread.start()
    log.info("inference server on http://%s:%s", host, port)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()

    return stop
