"""The warehouse API application factory.

Millrace's own API lives under ``/api/v1``. The root holds seed 004's surface
(``/datasets/{user_id}/{dataset_id}``, ``version: "v1"`` bodies and friends, see
``api/seed``), so the seed's partner clients work unchanged; both sit on the same services.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Response

from millrace import __version__
from millrace.settings import Settings
from millrace.ui import mount_ui
from millrace.warehouse.api.deps import MetricsReader
from millrace.warehouse.api.errors import install_error_handlers
from millrace.warehouse.api.idempotency import IdempotencyMiddleware
from millrace.warehouse.api.limits import BodyLimitMiddleware
from millrace.warehouse.api.problems import PROBLEM_RESPONSES, document_problems
from millrace.warehouse.api.routes import (
    ai_models,
    datasets,
    health,
    journeys,
    registry,
    reports,
    users,
)
from millrace.warehouse.api.seed import seed_router
from millrace.warehouse.context import Warehouse

__all__ = ["create_app"]


def _resources() -> APIRouter:
    router = APIRouter()
    for module in (datasets, ai_models, reports):
        router.include_router(module.router)
    return router


def _metrics(_: MetricsReader) -> Response:
    """Prometheus text for this process: in ``millrace up`` it also carries the agents'
    event counters, consumer lag and journey step durations."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def create_app(settings: Settings | None = None, warehouse: Warehouse | None = None) -> FastAPI:
    settings = settings or (warehouse.settings if warehouse else Settings())
    wh = warehouse or Warehouse.open(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if warehouse is None:
            wh.close()

    app = FastAPI(
        title="Millrace",
        version=__version__,
        description="Datasets, models and reports for Millrace's journeys.",
        lifespan=lifespan,
    )
    app.state.warehouse = wh
    install_error_handlers(app)
    document_problems(app)
    app.include_router(health.router)
    app.include_router(health.router, prefix="/api/v1")
    for module in (users, journeys, registry):
        app.include_router(module.router, prefix="/api/v1", responses=PROBLEM_RESPONSES)
    resources = _resources()
    app.include_router(resources, prefix="/api/v1", responses=PROBLEM_RESPONSES)
    app.include_router(seed_router(), responses=PROBLEM_RESPONSES)
    app.add_api_route("/metrics", _metrics, include_in_schema=False)
    mount_ui(app)  # after the API routes: it only adds `/` and `/ui/...`
    # Outermost first: the body cap applies before an idempotent replay or a route runs.
    app.add_middleware(IdempotencyMiddleware, warehouse=wh)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_upload_bytes)
    return app
