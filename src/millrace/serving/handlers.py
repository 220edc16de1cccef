"""The inference calls themselves, written once for every way a request arrives.

Each takes a validated body and returns the JSON answer as a dict. ``state`` is the
request's ASGI state: the model found is written there at once, and what to log once the
answer is out, so the observer counts every outcome against the right model.
"""

from __future__ import annotations

from typing import Any

from millrace.exceptions import InvalidInputError
from millrace.serving.auth import Caller
from millrace.serving.inputs import from_columns, from_records, from_tensors
from millrace.serving.models import (
    Forecast,
    ForecastModel,
    Prediction,
    ServedModel,
    TabularModel,
)
from millrace.serving.protocol import InferenceRequest, PredictRequest, SeedPredictRequest
from millrace.serving.service import InferenceService, frame_from

__all__ = ["infer", "predict", "seed_predict"]

State = dict[str, Any]


def _found(state: State, model: ServedModel) -> ServedModel:
    """From here on the request counts against this model, whatever its outcome."""
    state["model"] = model.name
    return model


def _log(state: State, model: ServedModel, **entry: Any) -> None:
    state["log"] = {"model": model.name, "version": model.version, **entry}


async def infer(
    service: InferenceService,
    caller: Caller,
    name: str,
    body: InferenceRequest,
    state: State,
    user_id: str | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    """Open Inference Protocol v2. Tabular: one input tensor per column. Forecasting: the
    time column and value columns as tensors, ``parameters.inference_length``; out come
    ``ts`` and ``value``, and ``lower_80``, ``upper_80``, ... when the model has
    prediction intervals."""
    model = _found(state, service.versioned(caller, name, version, user_id))
    params = body.parameters or {}
    head = {"model_name": name, "model_version": model.version, "id": body.id}
    if isinstance(model, TabularModel):
        columns, n = from_tensors(body.inputs, model.features)
        wanted = {o.name for o in body.outputs or []}
        prediction, x = await service.predict(model, columns, n, "predict_proba" in wanted)
        _log(state, model, rows=n, _x=x, _features=model.features, _pred=prediction.values)
        return {**head, "outputs": _tabular_outputs(model, prediction, wanted)}
    assert isinstance(model, ForecastModel)
    spec = model.spec
    time_col = params.get("index_col") or spec.time_col
    columns, _ = from_tensors(body.inputs, [time_col, *spec.columns])
    forecast = await service.forecast(
        model, frame_from(columns), _length(params.get("inference_length")), time_col
    )
    _log(state, model, rows=len(forecast.values), _pred=forecast.values)
    h = len(forecast.values)
    outputs = [
        {"name": "ts", "datatype": "BYTES", "shape": [h], "data": forecast.times},
        {"name": "value", "datatype": "FP64", "shape": [h], "data": forecast.values},
    ]
    for level, bounds in forecast.intervals.items():
        outputs += [
            {
                "name": f"{side}_{level}",
                "datatype": "FP64",
                "shape": [h],
                "parameters": {"level": level},
                "data": data,
            }
            for side, data in zip(("lower", "upper"), bounds, strict=True)
        ]
    return {**head, "outputs": outputs}


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


async def predict(
    service: InferenceService,
    caller: Caller,
    name: str,
    body: PredictRequest | list[dict[str, Any]],
    state: State,
    user_id: str | None = None,
) -> dict[str, Any]:
    """Rows in, predictions out: ``{"records": [...]}``, ``{"columns": {...}}`` or a bare
    list of objects. Forecasters take ``{"data", "index_col", "inference_length"}``."""
    model = _found(state, service.find(caller, name, user_id))
    req = PredictRequest(records=body) if isinstance(body, list) else body
    if isinstance(model, ForecastModel):
        return await _forecast(service, model, req.data or req.records, req, state)
    assert isinstance(model, TabularModel)
    if req.columns is not None:
        columns, n = from_columns(req.columns, model.features)
    else:
        columns, n = from_records(req.records or [], model.features)
    prediction, x = await service.predict(model, columns, n, req.proba)
    _log(state, model, rows=n, _x=x, _features=model.features, _pred=prediction.values)
    out: dict[str, Any] = {
        "model": name,
        "version": model.version,
        "predictions": prediction.values,
    }
    if prediction.proba is not None:
        out["classes"] = model.encoder.classes
        out["probabilities"] = prediction.proba.tolist()
    return out


async def _forecast(
    service: InferenceService,
    model: ForecastModel,
    data: Any,
    req: PredictRequest | SeedPredictRequest,
    state: State,
) -> dict[str, Any]:
    forecast = await service.forecast(model, frame_from(data), req.inference_length, req.index_col)
    _log(state, model, rows=len(forecast.values), _pred=forecast.values)
    out: dict[str, Any] = {
        "model": model.champion.model_id,
        "version": model.version,
        "predictions": [
            {"ts": t, "value": v} for t, v in zip(forecast.times, forecast.values, strict=True)
        ],
    }
    if forecast.intervals:
        out["intervals"] = _intervals(forecast)
    return out


def _intervals(forecast: Forecast) -> dict[str, dict[str, list[float]]]:
    """``{"80": {"lower": [...], "upper": [...]}, ...}``, a bound per prediction."""
    return {
        str(level): {"lower": lower, "upper": upper}
        for level, (lower, upper) in forecast.intervals.items()
    }


async def seed_predict(
    service: InferenceService,
    caller: Caller,
    body: SeedPredictRequest,
    state: State,
    user_id: str | None = None,
) -> dict[str, Any]:
    """Seed 000's forecasting endpoint: ``inference_length``, ``data`` and ``index_col`` in,
    ``predictions: [{ts, value}]`` out, and ``intervals: {"80": {lower, upper}, ...}`` when
    the model has prediction intervals. ``model`` may be left out when the caller has one
    forecasting model."""
    model = _found(
        state,
        service.find(caller, body.model, user_id)
        if body.model
        else service.only_forecaster(caller, user_id),
    )
    if not isinstance(model, ForecastModel):
        raise InvalidInputError(
            f"{body.model!r} is a tabular model: use POST /api/v1/models/{body.model}/predict"
        )
    return await _forecast(service, model, body.data, body, state)
