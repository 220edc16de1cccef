"""Forecasting online: rebuild a champion's inputs from raw history sent in a request.

The pipeline prepares a whole series once (``pipelines.steps.preprocess``); a served
forecaster instead gets the recent history in each request and must see exactly the
features it was trained on. This module repeats preprocess's transformation on that
history with the run's saved scaler and configuration (gap interpolation, target lags,
cyclical time features, exogenous columns, the same column order), extends the time index
by the horizon, and asks the forecaster for the points after the last row.
Clipping bounds and log1p come with the saved scaler, so they are repeated too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from millrace.exceptions import InvalidInputError
from millrace.ml.forecasting.data import Scaler, future_times, model_inputs, with_lags
from millrace.ml.forecasting.models import MODELS, Forecaster, SeriesArrays

__all__ = ["ForecastSpec", "forecast_history", "history_frame", "history_target", "online_series"]

MAX_LENGTH = 10_000  # points per request for models that can forecast any length


@dataclass(frozen=True)
class ForecastSpec:
    """What a served forecaster needs to rebuild its inputs: a run's saved
    ``config/prepared.json`` and ``preprocess/scaler.json``, and the model's name."""

    model: str
    target: str
    time_col: str
    exog: tuple[str, ...]
    lags: int
    horizon: int
    input_seq_len: int
    step_seconds: float
    season: int
    scaler: Scaler
    members: tuple[str, ...] = ()  # an ensemble's models

    @classmethod
    def from_run(
        cls,
        model: str,
        prepared: dict[str, Any],
        scaler: dict[str, Any],
        members: Sequence[str] = (),
    ) -> ForecastSpec:
        cfg = prepared["config"]
        return cls(
            model=model,
            members=tuple(members),
            target=cfg["target"],
            time_col=cfg.get("time_col", "time"),
            exog=tuple(cfg.get("exog") or ()),
            lags=int(cfg.get("lags") or 0),
            horizon=int(cfg["horizon"]),
            input_seq_len=int(cfg["input_seq_len"]),
            step_seconds=float(prepared["step_seconds"]),
            season=int(prepared["season"]),
            scaler=Scaler(
                mean=dict(scaler["mean"]),
                std=dict(scaler["std"]),
                log=list(scaler.get("log", [])),
                lower=dict(scaler.get("lower", {})),
                upper=dict(scaler.get("upper", {})),
            ),
        )

    @property
    def columns(self) -> list[str]:
        """The columns a request's history must carry besides the time column."""
        return [self.target, *self.exog]

    @property
    def windowed(self) -> bool:
        """Whether a window-reading model (alone or in the ensemble) is served."""
        return any(MODELS[m].windowed for m in (self.model, *self.members) if m in MODELS)

    @property
    def max_length(self) -> int:
        """Windowed models predict their trained horizon in one shot, and no further."""
        return self.horizon if self.windowed else MAX_LENGTH

    @property
    def min_history(self) -> int:
        return max(3, self.input_seq_len) if self.windowed else 3


def history_frame(
    frame: pd.DataFrame, spec: ForecastSpec, time_col: str | None = None
) -> pd.DataFrame:
    """The request's rows checked and indexed by time: each problem is a clear 422."""
    time_col = time_col or spec.time_col
    if time_col not in frame.columns:
        raise InvalidInputError(
            f"the history has no time column {time_col!r} (pass index_col to name it)"
        )
    missing = [c for c in spec.columns if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"the history lacks column(s) {', '.join(map(repr, missing))}; "
            f"this model needs {', '.join(map(repr, [time_col, *spec.columns]))}"
        )
    if len(frame) < spec.min_history:
        raise InvalidInputError(
            f"the history has {len(frame)} rows; this {spec.model} model needs at least "
            f"{spec.min_history}"
        )
    # As UTC wall time without a zone: how the pipeline's prepared series stores times.
    times = pd.to_datetime(frame[time_col], errors="coerce", utc=True)
    if times.isna().any():
        bad = frame.loc[times.isna(), time_col].iloc[0]
        raise InvalidInputError(f"{time_col!r} has a value that is not a time: {bad!r}")
    times = times.dt.tz_convert(None)
    if times.duplicated().any():
        raise InvalidInputError(f"duplicate timestamps, e.g. {times[times.duplicated()].iloc[0]}")
    if not times.is_monotonic_increasing:
        raise InvalidInputError("timestamps are not in order; sort the history by time")
    out = pd.DataFrame(index=pd.DatetimeIndex(times.to_numpy()))
    for col in spec.columns:
        raw = frame[col]
        values = pd.to_numeric(raw, errors="coerce")
        if (values.isna() & raw.notna()).any():
            bad = raw[values.isna() & raw.notna()].iloc[0]
            raise InvalidInputError(f"column {col!r} holds a value that is not a number: {bad!r}")
        out[col] = values.to_numpy(dtype=float)
    if out[spec.target].isna().all():
        raise InvalidInputError(f"target {spec.target!r} has no values in the history")
    return out


def online_series(history: pd.DataFrame, spec: ForecastSpec, h: int) -> SeriesArrays:
    """The history as the forecaster's arrays, with ``h`` future timestamps appended."""
    frame = with_lags(history[spec.columns], [spec.target], spec.lags)
    unknown = [c for c in frame.columns if c not in spec.scaler.mean]
    if unknown:
        raise InvalidInputError(f"the saved scaler does not know column(s) {unknown}")
    x = model_inputs(frame, [spec.target], spec.scaler)
    times = pd.DatetimeIndex(frame.index)
    n = len(frame)
    return SeriesArrays(
        y=frame[spec.target].to_numpy(float),
        y_scaled=x[spec.target].to_numpy(float),
        x=x.to_numpy(float),
        times=times.append(future_times(times, spec.step_seconds, h)),
        train_end=n,
        val_end=n,
        season=spec.season,
        target_mean=spec.scaler.mean[spec.target],
        target_std=spec.scaler.std[spec.target],
        target_log=spec.target in spec.scaler.log,
    )


def history_target(history: pd.DataFrame, spec: ForecastSpec) -> np.ndarray:
    """The history's target as the pipeline's series holds it: original scale, gaps
    interpolated. Prediction intervals take their scale from it (``intervals.scale_of``),
    as they were calibrated on the training series'."""
    frame = with_lags(history[[spec.target]], [spec.target], 0)
    return frame[spec.target].to_numpy(float)


def forecast_history(
    model: Forecaster, spec: ForecastSpec, history: pd.DataFrame, h: int
) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """The ``h`` points after the history's last row, with their timestamps."""
    if not 1 <= h <= spec.max_length:
        raise InvalidInputError(
            f"inference_length must be between 1 and {spec.max_length} for this "
            f"{spec.model} model (trained horizon {spec.horizon})"
        )
    s = online_series(history, spec, h)
    n = len(s.y)
    try:
        values = np.asarray(model.forecast(s, n, h), dtype=float)[:h]
    except (ValueError, IndexError, RuntimeError) as exc:
        raise InvalidInputError(
            f"the {spec.model} model cannot forecast from this history: {exc}"
        ) from None
    return s.times[n : n + h], values
