"""HTTP routes: Open Inference Protocol v2, ``/api/v1/models/{name}/predict``, and seed
000's ``/predict``. Model names are the warehouse model ids of the caller (admins may pass
``?user_id=``); another user's model answers 404, as in the warehouse API.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, Response

from millrace import __version__
from millrace.exceptions import InvalidInputError
from millrace.serving.auth import Caller
from millrace.serving.inputs import from_columns, from_records, from_tensors
from millrace.serving.models import ForecastModel, Prediction, ServedModel, TabularModel
from millrace.serving.protocol import (
    InferenceRequest,
    InferenceResponse,
    ModelMetadata,
    PredictRequest,
    SeedPredictRequest,
)
from millrace.serving.service import InferenceService, frame_from

__all__ = ["router"]

router = APIRouter()
UserId = Annotated[str | None, Query(description="Admins: act for this user")]


def _service(request: Request) -> InferenceService:
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


def _found(request: Request, model: ServedModel) -> ServedModel:
    """From here on the request counts against this model, whatever its outcome."""
    request.state.model = model.name
    return model


def _observe(request: Request, model: ServedModel, **log: Any) -> None:
    """What the middleware records once the answer is out (metrics and the request log)."""
    request.state.log = {"model": model.name, "version": model.version, **log}


# Health and server metadata (no token: probes and load balancers call these)


@router.get("/v2/health/live", tags=["health"])
def live() -> dict[str, bool]:
    return {"live": True}


@router.get("/v2/health/ready", tags=["health"])
def ready(request: Request) -> JSONResponse:
    """Ready once the first pass over the registry has loaded every champion it could."""
    watcher = request.app.state.watcher
    ok = watcher.synced.is_set()
    body = {"ready": ok, "models": len(request.app.state.store.live_versions())}
    if watcher.last_error:
        body["registry_error"] = watcher.last_error
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/v2", tags=["v2"])
def server_metadata() -> dict[str, Any]:
    return {"name": "millrace", "version": __version__, "extensions": ["millrace_predict"]}


# Model metadata


@router.get("/v2/models/{name}", response_model=ModelMetadata, tags=["v2"])
@router.get("/v2/models/{name}/versions/{version}", response_model=ModelMetadata, tags=["v2"])
def model_metadata(
    name: str,
    caller: CallerDep,
    service: Service,
    user_id: UserId = None,
    version: str | None = None,
) -> dict[str, Any]:
    """The live version and the input contract (``parameters.live_version``)."""
    model = (
        service.find(caller, name, user_id)
        if version is None
        else service.versioned(caller, name, version, user_id)
    )
    return service.metadata(model)


@router.get("/v2/models/{name}/ready", tags=["v2"])
@router.get("/v2/models/{name}/versions/{version}/ready", tags=["v2"])
def model_ready(
    name: str,
    caller: CallerDep,
    service: Service,
    user_id: UserId = None,
    version: str | None = None,
) -> dict[str, Any]:
    model = (
        service.find(caller, name, user_id)
        if version is None
        else service.versioned(caller, name, version, user_id)
    )
    return {"name": name, "version": model.version, "ready": True}


@router.get("/api/v1/models", tags=["predict"])
def served_models(caller: CallerDep, service: Service, user_id: UserId = None) -> dict[str, Any]:
    """The caller's models being served, with their live versions."""
    models = service.store.owned_by(caller.owner(user_id))
    return {"models": [service.metadata(m) for m in models]}


# Inference


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
    time column and value columns as tensors, ``parameters.inference_length``."""
    model = _found(
        request,
        service.find(caller, name, user_id)
        if version is None
        else service.versioned(caller, name, version, user_id),
    )
    params = body.parameters or {}
    head = {"model_name": name, "model_version": model.version, "id": body.id}
    if isinstance(model, TabularModel):
        columns, n = from_tensors(body.inputs, model.features)
        wanted = {o.name for o in body.outputs or []}
        proba = "predict_proba" in wanted
        prediction, x = await service.predict(model, columns, n, proba)
        _observe(request, model, rows=n, _x=x, _features=model.features, _pred=prediction.values)
        return _json({**head, "outputs": _tabular_outputs(model, prediction, wanted)})
    spec = model.contract
    time_col = params.get("index_col") or spec.time_col
    columns, _ = from_tensors(body.inputs, [time_col, *spec.columns])
    forecast = await service.forecast(
        model, frame_from(columns), _length(params.get("inference_length")), time_col
    )
    _observe(request, model, rows=len(forecast.values), _pred=forecast.values)
    h = len(forecast.values)
    outputs = [
        {"name": "ts", "datatype": "BYTES", "shape": [h], "data": forecast.times},
        {"name": "value", "datatype": "FP64", "shape": [h], "data": forecast.values},
    ]
    return _json({**head, "outputs": outputs})


def _length(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError("parameters.inference_length must be an integer")
    return value


def _tabular_outputs(
    model: TabularModel, prediction: Prediction, wanted: set[str]
) -> list[dict[str, Any]]:
    n = len(prediction.values)
    datatype = model.output_datatype
    values = prediction.values if datatype != "BYTES" else [str(v) for v in prediction.values]
    outputs: list[dict[str, Any]] = []
    if not wanted or "predict" in wanted:
        outputs.append({"name": "predict", "datatype": datatype, "shape": [n], "data": values})
    if prediction.proba is not None:
        k = prediction.proba.shape[1]
        outputs.append(
            {
                "name": "predict_proba",
                "datatype": "FP64",
                "shape": [n, k],
                "data": prediction.proba.ravel().tolist(),
                "parameters": {"classes": [str(c) for c in model.encoder.classes or []]},
            }
        )
    return outputs


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
    model = _found(request, service.find(caller, name, user_id))
    req = PredictRequest(records=body) if isinstance(body, list) else body
    if isinstance(model, ForecastModel):
        return await _forecast(request, service, model, req.data or req.records, req)
    if req.columns is not None:
        columns, n = from_columns(req.columns, model.features)
    else:
        columns, n = from_records(req.records or [], model.features)
    prediction, x = await service.predict(model, columns, n, req.proba)
    _observe(request, model, rows=n, _x=x, _features=model.features, _pred=prediction.values)
    out: dict[str, Any] = {
        "model": name,
        "version": model.version,
        "predictions": prediction.values,
    }
    if prediction.proba is not None:
        out["classes"] = model.encoder.classes
        out["probabilities"] = prediction.proba.tolist()
    return _json(out)


async def _forecast(
    request: Request,
    service: InferenceService,
    model: ForecastModel,
    data: Any,
    req: PredictRequest | SeedPredictRequest,
) -> Response:
    forecast = await service.forecast(model, frame_from(data), req.inference_length, req.index_col)
    _observe(request, model, rows=len(forecast.values), _pred=forecast.values)
    return _json(
        {
            "model": model.champion.model_id,
            "version": model.version,
            "predictions": [
                {"ts": t, "value": v} for t, v in zip(forecast.times, forecast.values, strict=True)
            ],
        }
    )


@router.post("/predict", tags=["predict"])
async def seed_predict(
    body: SeedPredictRequest,
    request: Request,
    caller: CallerDep,
    service: Service,
    user_id: UserId = None,
) -> Response:
    """Seed 000's forecasting endpoint: ``inference_length``, ``data`` and ``index_col`` in,
    ``predictions: [{ts, value}]`` out. ``model`` may be left out when the caller has one
    forecasting model."""
    model = (
        service.find(caller, body.model, user_id)
        if body.model
        else service.only_forecaster(caller, user_id)
    )
    _found(request, model)
    if not isinstance(model, ForecastModel):
        raise InvalidInputError(
            f"{body.model!r} is a tabular model: use POST /api/v1/models/{body.model}/predict"
        )
    return await _forecast(request, service, model, body.data, body)
