"""Served models: a champion version, loaded, with its input contract.

``TabularModel`` checks and encodes raw columns with the training-time ``FeatureEncoder``
(the model's signature: which columns, numeric or categorical) and predicts a matrix.
``ForecastModel`` rebuilds a forecaster's inputs from history
(``millrace.ml.forecasting.online``), with prediction intervals when the saved model has
them (``millrace.ml.forecasting.intervals``). Both are immutable once built, so a request that
took a reference keeps a consistent model even while a newer version goes live.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from millrace.exceptions import InvalidInputError
from millrace.ml.forecasting.intervals import Intervals
from millrace.ml.forecasting.models import MODELS, Forecaster
from millrace.ml.forecasting.online import (
    ForecastSpec,
    forecast_history,
    history_frame,
    history_target,
    online_series,
)
from millrace.ml.registry import Champion
from millrace.ml.tabular.encoding import FeatureEncoder
from millrace.serving.inputs import Columns

__all__ = ["Forecast", "ForecastModel", "Prediction", "ServedModel", "TabularModel"]

_NUMBER = (int, float, bool)


@dataclass(frozen=True)
class Prediction:
    values: list[Any]
    proba: np.ndarray | None = None  # (n, classes), classifiers only, when asked


@dataclass(frozen=True)
class Forecast:
    times: list[str]
    values: list[float]
    # Prediction intervals by level (percent): lower and upper bounds, a value per point.
    # Empty for a model saved without intervals.
    intervals: dict[int, tuple[list[float], list[float]]] = field(default_factory=dict)


@dataclass(kw_only=True)
class _Served:
    champion: Champion
    load_seconds: float
    loaded_at: float = field(default_factory=time.time)

    @property
    def name(self) -> str:
        return self.champion.name

    @property
    def version(self) -> str:
        return self.champion.version


@dataclass(kw_only=True)
class TabularModel(_Served):
    estimator: Any
    encoder: FeatureEncoder
    kind: ClassVar[str] = "tabular"

    def __post_init__(self) -> None:
        self._lookups = {
            c: {v: i for i, v in enumerate(cats)} for c, cats in self.encoder.categorical.items()
        }
        self._booster = _lightgbm_booster(self.estimator)

    @property
    def features(self) -> list[str]:
        return self.encoder.features

    @property
    def is_classifier(self) -> bool:
        return self.encoder.classes is not None

    def signature(self) -> dict[str, list[dict[str, Any]]]:
        """The OIP view of the encoder: one tensor per column, and what comes back."""
        inputs = [{"name": c, "datatype": "FP64", "shape": [-1]} for c in self.encoder.numeric]
        inputs += [
            {"name": c, "datatype": "BYTES", "shape": [-1]} for c in self.encoder.categorical
        ]
        outputs = [{"name": "predict", "datatype": self.output_datatype, "shape": [-1]}]
        if self.is_classifier:
            n = len(self.encoder.classes or [])
            outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, n]})
        return {"inputs": inputs, "outputs": outputs}

    @property
    def output_datatype(self) -> str:
        classes = self.encoder.classes
        if classes is None:
            return "FP64"
        if all(isinstance(c, bool) for c in classes):
            return "BOOL"
        if all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
            return "INT64"
        return "BYTES"

    def encode(self, columns: Columns, n: int) -> np.ndarray:
        """Raw columns -> the float matrix the estimator saw in training, checked.

        Numeric columns take numbers, booleans or null (missing); categorical ones take
        text or numbers (matched as text, unseen values become the unknown code -1).
        """
        x = np.empty((n, len(self.features)), dtype=np.float64)
        for j, col in enumerate(self.encoder.numeric):
            values = columns[col]
            for i, v in enumerate(values):
                if v is not None and not isinstance(v, _NUMBER):
                    raise InvalidInputError(
                        f"column {col!r} is numeric but row {i} holds {type(v).__name__} {v!r}"
                    )
            x[:, j] = np.asarray(values, dtype=np.float64)
        offset = len(self.encoder.numeric)
        for j, (col, lookup) in enumerate(self._lookups.items(), start=offset):
            out = x[:, j]
            for i, v in enumerate(columns[col]):
                if v is None or (isinstance(v, float) and math.isnan(v)):
                    out[i] = np.nan
                elif isinstance(v, str | int | float | bool):
                    out[i] = lookup.get(str(v), -1)
                else:
                    raise InvalidInputError(
                        f"column {col!r} is categorical but row {i} holds {type(v).__name__}"
                    )
        return x

    def predict(self, x: np.ndarray, proba: bool = False) -> Prediction:
        """Predict an encoded matrix: LightGBM through its booster (what its sklearn
        wrapper does, minus the per-call validation), anything else through ``predict``."""
        if self._booster is not None:
            raw = self._booster.predict(x, num_threads=1)
            if not self.is_classifier:
                return Prediction(raw.tolist())
            probs = raw if raw.ndim == 2 else np.vstack((1.0 - raw, raw)).transpose()
            codes = self.estimator.classes_[np.argmax(probs, axis=1)]
        else:
            frame = pd.DataFrame(x, columns=self.features)
            codes = self.estimator.predict(frame)
            probs = self.estimator.predict_proba(frame) if proba and self.is_classifier else None
            if not self.is_classifier:
                return Prediction(np.asarray(codes, dtype=float).tolist())
        return Prediction(self.encoder.decode_target(np.asarray(codes)), probs if proba else None)


def _lightgbm_booster(estimator: Any) -> Any:
    module = type(estimator).__module__
    if not module.startswith("lightgbm.") or not hasattr(estimator, "booster_"):
        return None
    if callable(getattr(estimator, "objective", None)):
        return None  # custom objectives return raw scores from predict: keep its own path
    return estimator.booster_


@dataclass(kw_only=True)
class ForecastModel(_Served):
    spec: ForecastSpec
    forecaster: Forecaster | None = None  # None: refit per request (see ``refit_per_request``)
    params: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # what refitting restores from
    refit_per_request: bool = False
    intervals: Intervals | None = None  # the saved model's ``intervals.json``, if any
    kind: ClassVar[str] = "forecasting"

    def __post_init__(self) -> None:
        self._lock = threading.Lock()  # forecasters keep scratch state; one call at a time

    def signature(self) -> dict[str, list[dict[str, Any]]]:
        spec = self.spec
        inputs = [{"name": spec.time_col, "datatype": "BYTES", "shape": [-1]}]
        inputs += [{"name": c, "datatype": "FP64", "shape": [-1]} for c in spec.columns]
        outputs = [
            {"name": "ts", "datatype": "BYTES", "shape": [-1]},
            {"name": "value", "datatype": "FP64", "shape": [-1]},
        ]
        for level in self.levels:
            outputs += [
                {"name": f"{side}_{level}", "datatype": "FP64", "shape": [-1]}
                for side in ("lower", "upper")
            ]
        return {"inputs": inputs, "outputs": outputs}

    @property
    def levels(self) -> list[int]:
        """The interval levels (percent) a forecast carries; none without intervals."""
        if self.intervals is None:
            return []
        return sorted(k for k, v in self.intervals.halfwidths.items() if v)

    def forecast(self, frame: pd.DataFrame, length: int | None, time_col: str | None) -> Forecast:
        spec = self.spec
        history = history_frame(frame, spec, time_col)
        h = spec.horizon if length is None else length
        if self.refit_per_request:
            # No training series was at hand when this version loaded: a statistical
            # baseline (cheap, deterministic; alone or in an ensemble) is fitted on the
            # history it is given, the rest restored from the saved files.
            model = MODELS[spec.model](**self.params)
            model.load_state(self.files, online_series(history, spec, 1))
            times, values = forecast_history(model, spec, history, h)
        else:
            assert self.forecaster is not None
            with self._lock:
                times, values = forecast_history(self.forecaster, spec, history, h)
        bounds = {}
        if self.intervals is not None:
            # Scaled by the history sent, on its original scale: the widths are in units
            # of the series' own step-to-step variation.
            found = self.intervals.bounds(values, history_target(history, spec))
            bounds = {
                level: ([float(v) for v in lo], [float(v) for v in hi])
                for level, (lo, hi) in sorted(found.items())
            }
        return Forecast([t.isoformat() for t in times], [float(v) for v in values], bounds)


ServedModel = TabularModel | ForecastModel
