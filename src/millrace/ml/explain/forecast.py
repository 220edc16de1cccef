"""Explaining a forecaster: what in the recent past moves its forecast, and what the
series itself looks like.

Lag and feature attributions are occlusion tests, so they work the same for every model
behind the Forecaster interface: at sampled origins, one past value (or one feature over
the input window) is replaced by its training mean and the forecast's change is measured
on the original scale. A model that ignores recent values (Prophet, which reads only the
calendar) honestly scores zero there; its own decomposition into trend and seasonalities
is shown instead.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from millrace.ml.forecasting.models import Forecaster, SeriesArrays

__all__ = ["ForecastExplanation", "explain_forecaster", "feature_names"]

_MAX_ORIGINS = 30
_MAX_LAGS = 24
_TIME_FEATURES = 6  # the cyclical features preprocess appends last


@dataclass
class ForecastExplanation:
    model: str
    lags: dict[int, float]  # lag -> mean |change of forecast| when occluded
    features: dict[str, float] = field(default_factory=dict)
    components: pd.DataFrame | None = None  # Prophet: ds, trend, seasonalities, yhat
    autocorrelation: dict[int, float] = field(default_factory=dict)
    profile: dict[str, float] = field(default_factory=dict)  # mean by hour, weekday or month
    profile_by: str = ""
    origins: int = 0


def _origins(s: SeriesArrays, need: int) -> np.ndarray:
    start = max(need, s.train_end)
    stop = len(s.y) - 1
    if stop <= start:
        return np.array([], dtype=int)
    return np.unique(np.linspace(start, stop, num=min(_MAX_ORIGINS, stop - start)).astype(int))


def _occluded(s: SeriesArrays, index: int) -> SeriesArrays:
    out = copy.copy(s)
    out.y, out.y_scaled, out.x = s.y.copy(), s.y_scaled.copy(), s.x.copy()
    out.y[index], out.y_scaled[index] = float(s.unscale(np.zeros(1))[0]), 0.0
    out.x[index, s.target_index] = 0.0  # the neural models read the target from x
    return out


def _lag_effects(
    model: Forecaster, s: SeriesArrays, h: int, lags: int
) -> tuple[dict[int, float], int]:
    origins = _origins(s, lags + 1)
    effects = {k: 0.0 for k in range(1, lags + 1)}
    for o in origins:
        base = model.forecast(s, int(o), h)
        for k in effects:
            effects[k] += float(
                np.mean(np.abs(model.forecast(_occluded(s, int(o) - k), int(o), h) - base))
            )
    n = max(1, len(origins))
    return {k: round(v / n, 6) for k, v in effects.items()}, len(origins)


def _feature_effects(
    model: Forecaster, s: SeriesArrays, h: int, window: int, names: list[str]
) -> dict[str, float]:
    origins = _origins(s, window + 1)[:10]
    effects = dict.fromkeys(names, 0.0)
    for o in origins:
        base = model.forecast(s, int(o), h)
        for j, name in enumerate(names):
            masked = copy.copy(s)
            masked.x = s.x.copy()
            masked.x[int(o) - window : int(o), j] = 0.0  # scaled features: 0 is the mean
            effects[name] += float(np.mean(np.abs(model.forecast(masked, int(o), h) - base)))
    n = max(1, len(origins))
    return {k: round(v / n, 6) for k, v in effects.items()}


def _autocorrelation(y: np.ndarray, most: int) -> dict[int, float]:
    series = pd.Series(y)
    return {k: round(float(series.autocorr(k)), 4) for k in range(1, most + 1) if k < len(y) - 2}


def _profile(times: pd.DatetimeIndex, y: np.ndarray, step_s: float) -> tuple[str, dict[str, float]]:
    frame = pd.Series(y, index=times)
    if step_s < 86400:
        key, by = frame.index.hour, "hour of day"
    elif step_s < 28 * 86400:
        key, by = frame.index.dayofweek, "day of week (0 = Monday)"
    else:
        key, by = frame.index.month, "month"
    means = frame.groupby(key).mean()
    return by, {str(k): round(float(v), 4) for k, v in means.items()}


def explain_forecaster(
    model: Forecaster, s: SeriesArrays, *, horizon: int, window: int, feature_names: list[str]
) -> ForecastExplanation:
    lags = min(_MAX_LAGS, max(1, window))
    effects, n = _lag_effects(model, s, horizon, lags)
    exp = ForecastExplanation(model=model.name, lags=effects, origins=n)
    if model.windowed and s.x.shape[1]:
        exp.features = _feature_effects(model, s, horizon, window, feature_names)
    components = getattr(model, "components", None)
    if callable(components):
        exp.components = components(s, s.val_end, len(s.y))
    train = s.y[: s.train_end]
    exp.autocorrelation = _autocorrelation(train, min(2 * max(s.season, 12), 96))
    step_s = float((s.times[1] - s.times[0]).total_seconds()) if len(s.times) > 1 else 0.0
    exp.profile_by, exp.profile = _profile(s.times[: s.train_end], train, step_s)
    return exp


def feature_names(n_columns: int, columns: list[str]) -> list[str]:
    """Names for ``SeriesArrays.x``'s columns: the targets and exogenous ``columns`` in
    order, then lags (unnamed), then the time features."""
    time = [
        f"{p}_{f}" for p in ("minute_of_day", "day_of_week", "day_of_year") for f in ("sin", "cos")
    ]
    other = n_columns - len(time)
    base = [f"x{i}" for i in range(max(0, other))]
    base[: len(columns)] = columns[: len(base)]
    return [*base, *time][:n_columns]
