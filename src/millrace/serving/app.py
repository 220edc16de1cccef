"""The inference server's application factory.

One process serves the champion of every model in the registry. The lifespan starts the
registry watcher (loads and hot-swaps versions), the request-log writer and, lazily, one
predict thread per model; it stops them in reverse order, flushing the log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Header
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from millrace import __version__
from millrace.exceptions import PermissionDeniedError
from millrace.serving.auth import TokenCache
from millrace.serving.batching import Batcher
from millrace.serving.fastpath import FastPath
from millrace.serving.metrics import ServingMetrics
from millrace.serving.middleware import InferenceObserver
from millrace.serving.registry_watch import ModelStore, RegistryWatcher
from millrace.serving.request_log import RequestLog
from millrace.serving.routes import probes, router
from millrace.serving.service import InferenceService
from millrace.settings import Settings
from millrace.warehouse.api.errors import install_error_handlers
from millrace.warehouse.api.problems import PROBLEM_RESPONSES, document_problems
from millrace.warehouse.api.scrape import SCRAPE_REFUSED, is_scrape_token
from millrace.warehouse.context import Warehouse

__all__ = ["ServeOptions", "create_serving_app"]

MiB = 1024 * 1024


@dataclass(frozen=True)
class ServeOptions:
    """How the server behaves; the defaults suit one machine."""

    poll_interval_s: float = 1.0
    max_body_bytes: int = 16 * MiB
    max_batch_rows: int = 512
    token_ttl_s: float = 5.0
    log_dir: Path | None = None  # default: <MILLRACE_HOME>/inference
    log_flush_s: float = 1.0


def create_serving_app(
    settings: Settings | None = None,
    *,
    warehouse: Warehouse | None = None,
    options: ServeOptions | None = None,
) -> FastAPI:
    settings = settings or (warehouse.settings if warehouse else Settings())
    options = options or ServeOptions()
    wh = warehouse or Warehouse.open(settings)
    metrics = ServingMetrics()
    store = ModelStore()
    watcher = RegistryWatcher(
        settings.resolved_mlflow_uri, store, metrics, interval_s=options.poll_interval_s
    )
    request_log = RequestLog(
        options.log_dir or settings.home / "inference", metrics, flush_s=options.log_flush_s
    )
    batcher = Batcher(metrics, max_rows=options.max_batch_rows)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        request_log.start()
        watcher.start()
        try:
            yield
        finally:
            watcher.stop()
            await batcher.close()
            request_log.stop()
            if warehouse is None:
                wh.close()

    app = FastAPI(
        title="Millrace inference",
        version=__version__,
        description="Every champion model, online: Open Inference Protocol v2 and JSON.",
        lifespan=lifespan,
    )
    app.state.warehouse = wh
    app.state.store = store
    app.state.watcher = watcher
    app.state.metrics = metrics
    app.state.request_log = request_log
    app.state.tokens = TokenCache(wh, ttl_s=options.token_ttl_s)
    app.state.service = InferenceService(store, batcher)
    install_error_handlers(app)
    document_problems(app)
    app.include_router(probes)
    app.include_router(router, responses=PROBLEM_RESPONSES)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus(authorization: Annotated[str | None, Header()] = None) -> Response:
        # Prometheus with the scrape token, or an admin: the labels name every owner.
        if (
            not is_scrape_token(authorization, settings.metrics_token)
            and not (await app.state.tokens.caller(authorization)).is_admin
        ):
            raise PermissionDeniedError(SCRAPE_REFUSED)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(
        FastPath,
        service=app.state.service,
        tokens=app.state.tokens,
        max_body_bytes=options.max_body_bytes,
    )
    app.add_middleware(
        InferenceObserver,
        metrics=metrics,
        request_log=request_log,
    )
    return app
