"""What a forecasting journey needs from a dataset, and the pipeline config it gets.

A journey carries a target and a task, not pipeline knobs, so the time column is found
(a column named like a time that parses as one, else the only column that parses) and
the horizon and window follow the series' own step: a day ahead for hourly data, a year
for monthly, shrunk until train, validation and test each hold a full window.
"""

from __future__ import annotations

import warnings

import pandas as pd

from millrace.ml.forecasting.data import PreprocessConfig
from millrace.ml.forecasting.models import season_length

__all__ = ["find_time_column", "forecasting_problem", "journey_config"]

_TIME_NAMES = ("time", "timestamp", "ds", "date", "datetime", "period", "month")
_MAX_HORIZON = 24


def _parses(values: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(values):
        return True
    if pd.api.types.is_numeric_dtype(values) or values.empty:
        return False  # numbers parse as epoch nanoseconds: never a time column by accident
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas warns when it must guess a format
        parsed = pd.to_datetime(values.head(200), errors="coerce")
    return bool(parsed.notna().mean() > 0.95)


def find_time_column(frame: pd.DataFrame, target: str) -> str | None:
    candidates = [c for c in frame.columns if c != target]
    named = [c for c in candidates if str(c).strip().lower() in _TIME_NAMES]
    for column in named:
        if _parses(frame[column]):
            return str(column)
    parsing = [c for c in candidates if _parses(frame[c])]
    return str(parsing[0]) if len(parsing) == 1 else None


def forecasting_problem(frame: pd.DataFrame, target: str) -> str | None:
    """Why this frame cannot be forecast, in a sentence; None if it can (so far)."""
    if find_time_column(frame, target) is None:
        return (
            "forecasting needs one time column (named time, timestamp, ds or date, or the "
            "only column of dates); none was found"
        )
    y = pd.to_numeric(frame[target], errors="coerce")
    if y.notna().sum() < frame[target].notna().sum():
        return f"forecasting needs a numeric target; {target!r} holds text"
    return None


def journey_config(frame: pd.DataFrame, target: str, time_col: str) -> PreprocessConfig:
    times = pd.to_datetime(frame[time_col], errors="coerce").dropna().sort_values()
    step = times.diff().dropna().mode()
    season = season_length(step.iloc[0]) if not step.empty else 1
    horizon = min(_MAX_HORIZON, season if season > 1 else 12)
    window = max(2 * horizon, min(2 * season, 48))
    while 3 * (window + horizon) > len(frame) and window > 2:
        window = max(2, window // 2)
        horizon = max(1, min(horizon, window // 2))
    return PreprocessConfig(target=target, time_col=time_col, horizon=horizon, input_seq_len=window)
