"""Every candidate behind statsforecast's small interface: ``fit(y, X=None)`` and
``predict(h, X=None, level=None)`` on plain arrays.

The pipeline's models read prepared series (``SeriesArrays``: a target, its scaled inputs,
where training ends) and forecast from any origin, because backtests, refits and serving
all ask them for forecasts from several origins of one fitted state. A data scientist with
one array wants none of that. ``ArrayForecaster`` turns an array into that series, fits the
named model once, and forecasts from the array's end; ``level`` asks for conformal
intervals, made as the pipeline makes them: from the errors of the same model refitted at
earlier origins of the same array (``intervals.Intervals``), so they cost extra fits only
when asked for.

    >>> f = ArrayForecaster("ets", season=12).fit(y)
    >>> f.predict(18, level=[80, 95])  # {"mean": ..., "lo-80": ..., "hi-80": ..., ...}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np
import pandas as pd

from millrace.exceptions import InvalidInputError
from millrace.ml.forecasting.base import Forecaster, SeriesArrays
from millrace.ml.forecasting.intervals import Intervals, scale_of

__all__ = ["ArrayForecaster", "series_of"]

_INTERVAL_FOLDS = 5  # earlier origins refitted to measure the errors intervals come from


def series_of(y: np.ndarray, X: np.ndarray | None = None, season: int = 1) -> SeriesArrays:
    """One target (and optional exogenous columns, one row per value of ``y``) as the
    pipeline's models read it: every row is a training row, scaled by its own mean and
    standard deviation. The time index is a placeholder of daily steps; no model here
    reads calendar features from an array."""
    y = np.asarray(y, dtype=float).ravel()
    if len(y) < 3 or not np.isfinite(y).all():
        raise InvalidInputError("y must hold at least 3 finite values")
    columns = [y]
    if X is not None:
        X = np.asarray(X, dtype=float)
        X = X[:, None] if X.ndim == 1 else X
        if X.shape[0] != len(y) or not np.isfinite(X).all():
            raise InvalidInputError(f"X must hold {len(y)} rows of finite values, one per y")
        columns += list(X.T)
    raw = np.column_stack(columns)
    mean, std = raw.mean(axis=0), raw.std(axis=0)
    std[std == 0] = 1.0
    scaled = (raw - mean) / std
    return SeriesArrays(
        y=y,
        y_scaled=scaled[:, 0],
        x=scaled,
        times=pd.date_range("2000-01-01", periods=len(y), freq="D"),
        train_end=len(y),
        val_end=len(y),
        season=max(1, int(season)),
        target_mean=float(mean[0]),
        target_std=float(std[0]),
    )


class ArrayForecaster:
    """One of the pipeline's candidates (``MODELS``), fitted on an array.

    ``horizon`` and ``input_seq_len`` matter to the windowed models (GRU, LSTM, LightGBM),
    which forecast the horizon they were trained for: ``predict`` asks for at most that.
    The others forecast any ``h``."""

    def __init__(
        self,
        model: str,
        season: int = 1,
        horizon: int = 12,
        input_seq_len: int = 24,
        seed: int = 0,
    ) -> None:
        from millrace.ml.forecasting.models import MODELS

        if model not in MODELS or model == "ensemble":
            raise InvalidInputError(f"unknown model {model!r}: choose from {', '.join(MODELS)}")
        self._cls = MODELS[model]
        self.name = model
        self.season = season
        self.horizon = horizon
        self.input_seq_len = input_seq_len
        self.seed = seed
        self._model: Forecaster | None = None
        self._series: SeriesArrays | None = None
        self._intervals: Intervals | None = None

    def _new(self, name: str | None = None) -> Forecaster:
        from millrace.ml.forecasting.models import MODELS

        cls = MODELS[name] if name else self._cls
        return cls(horizon=self.horizon, input_seq_len=self.input_seq_len)

    def _fitted(self, s: SeriesArrays) -> Forecaster:
        """A fresh model fitted on ``s``; a fixed combination fits each of its members."""
        members = getattr(self._cls, "fixed_members", ())
        if not members:
            model = self._new()
            model.fit(s, seed=self.seed)
            return model
        fitted = {}
        for name in members:
            fitted[name] = self._new(name)
            fitted[name].fit(s, seed=self.seed)
        return self._cls.of(fitted, horizon=self.horizon, input_seq_len=self.input_seq_len)  # type: ignore[attr-defined]

    def fit(self, y: np.ndarray, X: np.ndarray | None = None) -> Self:
        self._series = series_of(y, X, self.season)
        self._model = self._fitted(self._series)
        self._intervals = None
        return self

    def predict(
        self, h: int, X: np.ndarray | None = None, level: Sequence[int] | None = None
    ) -> dict[str, np.ndarray]:
        """``{"mean": ...}``, plus ``lo-<level>`` and ``hi-<level>`` per level asked for
        (statsforecast's names). No candidate reads future exogenous values, so ``X``
        must be None: they forecast from the history (and its exogenous columns) alone."""
        if self._model is None or self._series is None:
            raise InvalidInputError("fit the forecaster before asking it to predict")
        if X is not None:
            raise InvalidInputError("no Millrace forecaster uses future exogenous values")
        if h < 1 or (self._cls.windowed and h > self.horizon):
            most = self.horizon if self._cls.windowed else "any"
            raise InvalidInputError(f"h must be between 1 and {most} for {self.name}, not {h}")
        s = self._series
        mean = np.asarray(self._model.forecast(s, len(s.y), h), dtype=float)[:h]
        out = {"mean": mean}
        if level:
            for lvl, (lo, hi) in self._conformal(h, level).bounds(mean, s.y).items():
                out[f"lo-{lvl}"], out[f"hi-{lvl}"] = lo, hi
        return out

    def _conformal(self, h: int, level: Sequence[int]) -> Intervals:
        """Errors of the model refitted at up to ``_INTERVAL_FOLDS`` earlier origins, each
        forecasting the ``h`` values after it, scaled by the history's MASE scale."""
        assert self._series is not None
        known = self._intervals
        widths = known.halfwidths if known else {}
        if known and set(level) <= set(widths) and all(len(w) >= h for w in widths.values()):
            return known
        s = self._series
        n = len(s.y)
        least = max(2 * h, self.input_seq_len + h if self._cls.windowed else 2 * self.season, 3)
        origins = [n - h * k for k in range(1, _INTERVAL_FOLDS + 1) if n - h * k >= least]
        if not origins:
            raise InvalidInputError(
                f"too short for intervals: {n} values leave no earlier origin to measure "
                f"{h}-step errors from (needs at least {least + h})"
            )
        errors = []
        for origin in origins:
            exog = s.x[:origin, 1:] if s.x.shape[1] > 1 else None
            earlier = series_of(s.y[:origin], exog, s.season)
            model = self._fitted(earlier)
            forecast = np.asarray(model.forecast(earlier, origin, h), dtype=float)[:h]
            errors.append(
                np.abs(s.y[origin : origin + h] - forecast) / scale_of(earlier.y, s.season)
            )
        self._intervals = Intervals.from_residuals(np.array(errors), s.season, level)
        return self._intervals
