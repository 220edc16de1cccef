"""What the routes call: find a caller's model, predict or forecast, and describe it.

Routes stay thin and never raise HTTP errors themselves; everything here raises
Millrace's own errors, which the app maps to problem+json once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
from starlette.concurrency import run_in_threadpool

from millrace.exceptions import (
    BackendUnavailableError,
    InvalidInputError,
    NotFoundError,
    NotReadyError,
)
from millrace.serving.auth import Caller
from millrace.serving.batching import Batcher
from millrace.serving.inputs import Columns
from millrace.serving.models import Forecast, ForecastModel, Prediction, ServedModel, TabularModel
from millrace.serving.registry_watch import ModelStore

__all__ = ["RETRY_AFTER_S", "InferenceService", "frame_from"]

RETRY_AFTER_S = 2  # loading one champion takes about a second; a few load side by side


@dataclass
class InferenceService:
    store: ModelStore
    batcher: Batcher

    def find(self, caller: Caller, model_id: str, user_id: str | None = None) -> ServedModel:
        owner = caller.owner(user_id)
        model = self.store.get(owner, model_id)
        if model is not None:
            return model
        failed = self.store.failure_of(owner, model_id)
        if failed is not None:
            raise BackendUnavailableError(
                f"model {model_id!r} v{failed.version} could not be loaded: {failed.error}"
            )
        if self.store.is_loading(owner, model_id):
            raise NotReadyError(
                f"the inference server is still loading champions ({model_id!r} may be one "
                f"of them); retry in {RETRY_AFTER_S} s",
                retry_after_s=RETRY_AFTER_S,
            )
        raise NotFoundError(f"model {model_id!r} not found (or it has no champion yet)")

    def versioned(
        self, caller: Caller, model_id: str, version: str | None, user_id: str | None = None
    ) -> ServedModel:
        """The live model; with a version, only if that version is the live one."""
        model = self.find(caller, model_id, user_id)
        if version is not None and model.version != version:
            raise NotFoundError(
                f"model {model_id!r} serves its champion, v{model.version}; v{version} is not live"
            )
        return model

    def only_forecaster(self, caller: Caller, user_id: str | None = None) -> ForecastModel:
        """Seed 000 served one forecaster; here the caller's only one is the default."""
        mine = [
            m for m in self.store.owned_by(caller.owner(user_id)) if isinstance(m, ForecastModel)
        ]
        if len(mine) == 1:
            return mine[0]
        if not mine and not self.store.first_pass_done:
            raise NotReadyError(
                f"the inference server is still loading champions; retry in {RETRY_AFTER_S} s",
                retry_after_s=RETRY_AFTER_S,
            )
        if not mine:
            raise NotFoundError("you have no forecasting model with a champion")
        ids = ", ".join(m.champion.model_id for m in mine)
        raise InvalidInputError(f"name the model: you have {len(mine)} forecasters ({ids})")

    async def predict(
        self, model: TabularModel, columns: Columns, n: int, proba: bool = False
    ) -> tuple[Prediction, Any]:
        x = model.encode(columns, n)
        return await self.batcher.predict(model, x, proba), x

    async def forecast(
        self, model: ForecastModel, frame: pd.DataFrame, length: int | None, time_col: str | None
    ) -> Forecast:
        return await run_in_threadpool(model.forecast, frame, length, time_col)

    def metadata(self, model: ServedModel) -> dict[str, Any]:
        c = model.champion
        platform = (
            f"{type(model.estimator).__module__.split('.')[0]}_sklearn"
            if isinstance(model, TabularModel)
            else f"millrace_forecast_{model.spec.model}"
        )
        return {
            "name": c.model_id,
            "versions": [c.version],
            "platform": platform,
            **model.signature(),
            "parameters": {
                "live_version": c.version,
                "kind": model.kind,
                "registered_name": c.name,
                "owner": c.owner,
                "run_id": c.run_id,
                "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(model.loaded_at)),
                "load_seconds": round(model.load_seconds, 3),
            },
        }


def frame_from(data: list[dict[str, Any]] | dict[str, list[Any]] | None) -> pd.DataFrame:
    """A forecaster's history from records or columns."""
    if not data:
        raise InvalidInputError("the history is empty: send rows in 'data'")
    if isinstance(data, dict):
        lengths = {len(v) for v in data.values()}
        if len(lengths) > 1:
            raise InvalidInputError("the columns in 'data' have different lengths")
        return pd.DataFrame(data)
    return pd.DataFrame.from_records(data)
