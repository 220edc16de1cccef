"""HTTP routes: Open Inference Protocol v2, ``/api/v1/models/{name}/predict``, and seed
000's ``/predict``. Model names are the warehouse model ids of the caller (admins may pass
``?user_id=``); another user's model answers 404, as in the warehouse API.

``probes`` holds the routes without a token (health and server metadata); ``router`` the
rest, which the app documents with the shared problem responses.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, Response

from millrace import __version__
from millrace.serving import handlers
from millrace.serving.auth import Caller
from millrace.serving.protocol import (
    InferenceRequest,
    InferenceResponse,
    ModelMetadata,
    PredictRequest,
    SeedPredictRequest,
)
from millrace.serving.service import RETRY_AFTER_S, InferenceService

__all__ = ["probes", "router"]

probes = APIRouter()
router = APIRouter()
UserId = Annotated[str | None, Query(description="Admins: act for this user")]


async def _service(request: Request) -> InferenceService:
    # async: FastAPI runs a plain-def dependency in its thread pool, on every request.
    return request.app.state.service  # type: ignore[no-any-return]


async def _caller(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Caller:
    caller: Caller = await request.app.state.tokens.caller(authorization)
    return caller


Service = Annotated[InferenceService, Depends(_service)]
CallerDep = Annotated[Caller, Depends(_caller)]


def _json(body: dict[str, Any]) -> Response:
    """Plain ``json.dumps``: FastAPI's encoder walks every value of large outputs."""
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")


# Health and server metadata (no token: probes and load balancers call these). Every
# route is async: none blocks, and a plain def would cost a thread-pool hop per call.


@probes.get("/v2/health/live", tags=["health"])
async def live() -> dict[str, bool]:
    return {"live": True}


@probes.get(
    "/v2/health/ready",
    tags=["health"],
    responses={503: {"description": "The first pass over the registry is not done yet"}},
)
async def ready(request: Request) -> JSONResponse:
    """Ready once the first pass over the registry has loaded every champion it could."""
    watcher = request.app.state.watcher
    ok = watcher.synced.is_set()
    body = {"ready": ok, "models": len(request.app.state.store.live_versions())}
    if watcher.last_error:
        body["registry_error"] = watcher.last_error
    if ok:
        return JSONResponse(body)
    return JSONResponse(body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})


@probes.get("/v2", tags=["v2"])
async def server_metadata() -> dict[str, Any]:
    return {"name": "millrace", "version": __version__, "extensions": ["millrace_predict"]}


# Model metadata


@router.get("/v2/models/{name}", response_model=ModelMetadata, tags=["v2"])
@router.get("/v2/models/{name}/versions/{version}", response_model=ModelMetadata, tags=["v2"])
async def model_metadata(
    name: str,
    caller: CallerDep,
    service: Service,
    user_id: UserId = None,
    version: str | None = None,
) -> dict[str, Any]:
    """The live version and the input contract (``parameters.live_version``)."""
    model = service.versioned(caller, name, version, user_id)
    return service.metadata(model)


@router.get("/v2/models/{name}/ready", tags=["v2"])
@router.get("/v2/models/{name}/versions/{version}/ready", tags=["v2"])
async def model_ready(
    name: str,
    caller: CallerDep,
    service: Service,
    user_id: UserId = None,
    version: str | None = None,
) -> dict[str, Any]:
    model = service.versioned(caller, name, version, user_id)
    return {"name": name, "version": model.version, "ready": True}


@router.get("/api/v1/models", tags=["predict"])
async def served_models(
    caller: CallerDep, service: Service, user_id: UserId = None
) -> dict[str, Any]:
    """The caller's models being served, with their live versions."""
    models = service.store.owned_by(caller.owner(user_id))
    return {"models": [service.metadata(m) for m in models]}


# Inference. ``FastPath`` answers these POSTs before FastAPI's routing, with the same
# handlers; the routes below declare them for the OpenAPI schema and run the same code.


@router.post(
    "/v2/models/{name}/infer",
    response_model=InferenceResponse,
    tags=["v2"],
    responses={200: {"model": InferenceResponse}},
)
@router.post(
    "/v2/models/{name}/versions/{version}/infer",
    response_model=InferenceResponse,
    tags=["v2"],
    responses={200: {"model": InferenceResponse}},
)
async def infer(
    name: str,
    body: InferenceRequest,
    request: Request,
    caller: CallerDep,
    service: Service,
    user_id: UserId = None,
    version: str | None = None,
) -> Response:
    """Open Inference Protocol v2. Tabular: one input tensor per column. Forecasting: the
    time column and value columns as tensors, ``parameters.inference_length``; out come
    ``ts`` and ``value``, and ``lower_80``, ``upper_80``, ... when the model has
    prediction intervals."""
    state = request.scope.setdefault("state", {})
    return _json(await handlers.infer(service, caller, name, body, state, user_id, version))


@router.post("/api/v1/models/{name}/predict", tags=["predict"])
async def predict(
    name: str,
    body: PredictRequest | list[dict[str, Any]],
    request: Request,
    caller: CallerDep,
    service: Service,
    user_id: UserId = None,
) -> Response:
    """Rows in, predictions out: ``{"records": [...]}``, ``{"columns": {...}}`` or a bare
    list of objects. Forecasters take ``{"data", "index_col", "inference_length"}``."""
    state = request.scope.setdefault("state", {})
    return _json(await handlers.predict(service, caller, name, body, state, user_id))


@router.post("/predict", tags=["predict"])
async def seed_predict(
    body: SeedPredictRequest,
    request: Request,
    caller: CallerDep,
    service: Service,
    user_id: UserId = None,
) -> Response:
    """Seed 000's forecasting endpoint: ``inference_length``, ``data`` and ``index_col`` in,
    ``predictions: [{ts, value}]`` out, and ``intervals: {"80": {lower, upper}, ...}`` when
    the model has prediction intervals. ``model`` may be left out when the caller has one
    forecasting model."""
    state = request.scope.setdefault("state", {})
    return _json(await handlers.seed_predict(service, caller, body, state, user_id))
