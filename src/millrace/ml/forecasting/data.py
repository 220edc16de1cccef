"""Reading and checking a time series, and splitting it without leaking the future.

Every check here answers a real mistake with a sentence: no time column, timestamps out of
order or repeated, gaps in a regular series, a target that is text or empty, a series too
short for one window and horizon. The scaler and the clipping bounds are fitted on the
training part only; validation and test never inform them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from millrace.exceptions import InvalidInputError

__all__ = [
    "TRANSFORMS",
    "PreparedSeries",
    "PreprocessConfig",
    "Scaler",
    "future_times",
    "load_panel",
    "model_inputs",
    "prepare_series",
    "time_features",
    "with_lags",
]

# The fewest rows a validation window's model may be fitted on: enough for the naive
# model and a MASE scale (one difference). A validation window of the horizon once had to
# follow as many rows as the horizon, which refused whole panels for one short series
# (Tourism holds 15 such, M1 69, e.g. 10 quarterly points with h 8) where statsforecast
# forecasts every series. A model that cannot fit so few rows falls back to the naive
# model for that series alone (``statistical._fit_one``), and is fitted on every row
# before the test window like any other.
LEAST_FIT_ROWS = 2
_IRREGULAR_TOLERANCE = 0.01  # share of steps allowed to differ from the usual step


@dataclass(frozen=True)
class PreprocessConfig:
    target: str
    # More columns to forecast beside ``target``: the neural models predict all of them at
    # once from the same window; every other model fits each target on its own.
    extra_targets: tuple[str, ...] = ()
    # A panel: one series per value of this column, all sharing the step and the columns.
    # The neural models learn from every series' windows; the others fit each series alone.
    id_col: str | None = None
    time_col: str = "time"
    exog: tuple[str, ...] = ()
    horizon: int = 12
    input_seq_len: int = 24
    val_share: float = 0.15
    test_share: float = 0.15
    clip: str | None = None  # None | "iqr" | "percentile"
    lags: int = 0
    max_eval_windows: int = 100
    # "log1p": the neural models see log1p of the non-negative columns. Traffic-like series
    # with rare huge spikes otherwise spend the whole MSE loss on the spikes and forecast
    # the calm stretches coarsely; statistical models and metrics keep the original scale.
    transform: str | None = None
    # Cross-validation windows for choosing the champion: the validation window plus
    # ``folds - 1`` earlier windows of its length, each candidate refitted before each (see
    # pipelines/scoring.py). 0, the default, takes as many as the shortest series allows,
    # up to three.
    folds: int = 0
    # Candidates that cannot win on this data sit out (``pipelines.steps.UNSUITED``), as
    # the benchmarks showed; False trains whatever is asked for.
    only_suited: bool = True
    # What the champion is chosen on: "weighted" (seed 000's score), "mase", or None: the
    # weighted score for one series (with its targets), MASE for a panel (see
    # pipelines/scoring.selection_scores).
    select_on: str | None = None

    @property
    def targets(self) -> tuple[str, ...]:
        return (self.target, *self.extra_targets)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> PreprocessConfig:
        """From JSON (a KFP parameter, a Kafka message): lists become the tuples the
        config hash and equality expect; an unknown or missing field is a clear error."""
        lists = {k: tuple(raw[k]) for k in ("exog", "extra_targets") if raw.get(k) is not None}
        try:
            return cls(**{**raw, **lists})
        except TypeError as exc:
            raise InvalidInputError(f"bad preprocess config: {exc}") from None


TRANSFORMS = (None, "log1p")


@dataclass
class Scaler:
    """The models' view of the columns, fitted on the training rows only: clipped to
    ``lower``/``upper`` (when clipping is on), log1p for the ``log`` columns, then
    standardised. Saved whole, so the inference server repeats it on request history."""

    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    lower: dict[str, float] = field(default_factory=dict)
    upper: dict[str, float] = field(default_factory=dict)

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        log: Sequence[str] = (),
        clip: str | None = None,
    ) -> Scaler:
        lower, upper = _bounds(frame, clip)
        logged = _log1p(_clip(frame, lower, upper), log)
        std = logged.std(ddof=0).replace(0, 1.0)
        return cls(
            {c: float(v) for c, v in logged.mean().items()},
            {c: float(v) for c, v in std.items()},
            list(log),
            lower,
            upper,
        )

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        clipped = _clip(frame, self.lower, self.upper)
        logged = _log1p(clipped, [c for c in self.log if c in frame.columns])
        return (logged - pd.Series(self.mean)) / pd.Series(self.std)


def _bounds(frame: pd.DataFrame, clip: str | None) -> tuple[dict[str, float], dict[str, float]]:
    """Outlier bounds per column: Tukey's fences (``iqr``) or the 1st/99th percentiles."""
    if clip is None:
        return {}, {}
    if clip == "iqr":
        q1, q3 = frame.quantile(0.25), frame.quantile(0.75)
        lo, hi = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    elif clip == "percentile":
        lo, hi = frame.quantile(0.01), frame.quantile(0.99)
    else:
        raise InvalidInputError(f"unknown clip {clip!r}: use iqr, percentile or none")
    return {c: float(v) for c, v in lo.items()}, {c: float(v) for c, v in hi.items()}


def _clip(frame: pd.DataFrame, lower: dict[str, float], upper: dict[str, float]) -> pd.DataFrame:
    columns = [c for c in lower if c in frame.columns]
    if not columns:
        return frame
    out = frame.copy()
    out[columns] = out[columns].clip(pd.Series(lower)[columns], pd.Series(upper)[columns], axis=1)
    return out


def _log1p(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """log1p of ``columns``; a negative value (never seen in training) counts as 0."""
    if not columns:
        return frame
    out = frame.copy()
    out[list(columns)] = np.log1p(out[list(columns)].clip(lower=0))
    return out


def _read(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix in {".parquet", ".pq"}:
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read {path.name}: {exc}") from None


def load_panel(
    path: Path, cfg: PreprocessConfig, parts: int = 3
) -> tuple[dict[str, pd.DataFrame], pd.Timedelta]:
    """Each series of the file (one per ``id_col`` value, else the one under ``""``)
    indexed by time and checked; and the step they share.

    ``parts`` is how many of train, validation and test each series must hold: 3 alone, 2
    beside a ``_test`` file, 0 for the test file itself (which needs one horizon only).
    """
    frame = _read(path)
    if cfg.time_col not in frame.columns:
        raise InvalidInputError(
            f"{path.name} has no time column {cfg.time_col!r} "
            f"(columns: {', '.join(map(str, frame.columns[:20]))})"
        )
    columns = [*cfg.targets, *cfg.exog]
    named = [cfg.time_col, *columns, *([cfg.id_col] if cfg.id_col else [])]
    if len(set(named)) < len(named):
        raise InvalidInputError(f"a column is named twice among time, id, targets, exog: {named}")
    for col in named[1:]:
        if col not in frame.columns:
            raise InvalidInputError(f"{path.name} has no column {col!r}")
    for target in cfg.targets:
        y = pd.to_numeric(frame[target], errors="coerce")
        if y.isna().all():
            raise InvalidInputError(f"target {target!r} has no numeric values")
        if y.notna().sum() < frame[target].notna().sum():
            raise InvalidInputError(f"target {target!r} holds non-numeric values")
    if cfg.id_col is None:
        groups = {"": frame}
    else:
        if frame[cfg.id_col].isna().any():
            raise InvalidInputError(f"the id column {cfg.id_col!r} has empty values")
        groups = {str(k): g for k, g in frame.groupby(cfg.id_col, sort=False)}
    panel: dict[str, pd.DataFrame] = {}
    steps: dict[str, pd.Timedelta] = {}
    for key, group in groups.items():
        where = f" in series {key!r}" if cfg.id_col else ""
        try:
            panel[key], steps[key] = _series(path, group, cfg, parts)
        except InvalidInputError as exc:
            raise InvalidInputError(f"{exc}{where}") from None
    if len(set(steps.values())) > 1:
        raise InvalidInputError(
            "the series step differently: "
            + ", ".join(f"{k} by {v}" for k, v in list(steps.items())[:5])
        )
    return panel, next(iter(steps.values()))


# Calendar steps vary in length (a month is 28 to 31 days); each band stands for one step,
# so two files, or two series of a panel, of the same frequency agree whatever the mode of
# their few steps happens to be (a quarterly test file's 2 steps may both be 91 days).
_CALENDAR_BANDS = (
    (pd.Timedelta(days=28), pd.Timedelta(days=31)),
    (pd.Timedelta(days=89), pd.Timedelta(days=92)),
    (pd.Timedelta(days=181), pd.Timedelta(days=184)),
    (pd.Timedelta(days=365), pd.Timedelta(days=366)),
)


def calendar_step(steps: pd.Series) -> pd.Timedelta | None:
    """The band's longest step when every step lies in one calendar band, else None."""
    low, high = steps.min(), steps.max()
    for lo, hi in _CALENDAR_BANDS:
        if lo <= low and high <= hi:
            return hi
    return None


def _series(
    path: Path, frame: pd.DataFrame, cfg: PreprocessConfig, parts: int
) -> tuple[pd.DataFrame, pd.Timedelta]:
    times = pd.to_datetime(frame[cfg.time_col], errors="coerce")
    if times.isna().any():
        bad = frame.loc[times.isna(), cfg.time_col].iloc[0]
        raise InvalidInputError(f"{cfg.time_col!r} has a value that is not a time: {bad!r}")
    if times.duplicated().any():
        raise InvalidInputError(f"duplicate timestamps, e.g. {times[times.duplicated()].iloc[0]}")
    if not times.is_monotonic_increasing:
        raise InvalidInputError("timestamps are not in order; sort the file by time first")
    steps = times.diff().dropna()
    if steps.empty:
        raise InvalidInputError("the series has a single timestamp")
    step = steps.mode().iloc[0]
    off = float((steps != step).mean())
    # Calendar frequencies (monthly, quarterly) are regular though their steps vary.
    calendar = len(times) >= 3 and pd.infer_freq(pd.DatetimeIndex(times)) is not None
    step = calendar_step(steps) or step
    if off > _IRREGULAR_TOLERANCE and not calendar:
        raise InvalidInputError(
            f"irregular time steps: {off:.0%} of steps differ from "
            f"the usual {step}; resample to a regular grid first"
        )
    columns = [*cfg.targets, *cfg.exog]
    out = frame[columns].apply(pd.to_numeric, errors="coerce")
    out.index = pd.DatetimeIndex(times)
    for target in cfg.targets:
        if out[target].isna().all():
            raise InvalidInputError(f"target {target!r} has no numeric values")
    # What every model can use: a validation window of the horizon after at least
    # ``LEAST_FIT_ROWS`` fitted rows (``parts`` 3 adds a test window of the horizon). The
    # windowed models need more (``input_seq_len`` before each label); where a series lacks
    # it they sit it out and the statistical models still choose a champion.
    if not parts:
        if len(out) < cfg.horizon:
            raise InvalidInputError(
                f"{path.name} has {len(out)} points; a test file needs at least the "
                f"horizon ({cfg.horizon})"
            )
    elif len(out) < (least := (parts - 1) * cfg.horizon + LEAST_FIT_ROWS):
        what = "train, validation and test" if parts == 3 else "train and validation"
        raise InvalidInputError(
            f"the series has {len(out)} points; at least {least} are needed for {what} "
            f"with horizon {cfg.horizon}"
        )
    return out, step


@dataclass
class PreparedSeries:
    """One series as the models will see it, before it is stored."""

    key: str
    y: np.ndarray  # (n, targets), original scale
    x: np.ndarray  # (n, features): scaled targets, exog and lags, then time features
    times: pd.DatetimeIndex
    scaler: Scaler
    train_end: int
    val_end: int

    @property
    def n(self) -> int:
        return len(self.y)


def prepare_series(
    key: str, frame: pd.DataFrame, tail: pd.DataFrame | None, cfg: PreprocessConfig
) -> PreparedSeries:
    """One series split by time, imputed, lagged and scaled on its own training rows."""
    if tail is not None:
        if tail.index[0] <= frame.index[-1]:
            where = f" (series {key!r})" if key else ""
            raise InvalidInputError(f"the test file must continue after the training file{where}")
        frame = pd.concat([frame, tail])
        val_end = len(frame) - len(tail)
        train_end = int(val_end * (1 - cfg.val_share))
    else:
        val_end = min(int(len(frame) * (1 - cfg.test_share)), len(frame) - cfg.horizon)
        train_end = int(len(frame) * (1 - cfg.test_share - cfg.val_share))
    # Short series: the shares would leave a window shorter than the horizon.
    train_end = min(train_end, val_end - cfg.horizon)
    targets = list(cfg.targets)
    frame = with_lags(frame[[*targets, *cfg.exog]], targets, cfg.lags)
    train = frame.iloc[:train_end]
    logged = [c for c in frame.columns if cfg.transform and (train[c] >= 0).all()]
    # Clipping and log1p shape what the models see; ``y`` stays the original series, which
    # baselines fit and every metric scores (clipped test actuals would flatter them).
    scaler = Scaler.fit(train, log=logged, clip=cfg.clip)
    return PreparedSeries(
        key=key,
        y=frame[targets].to_numpy(float),
        x=model_inputs(frame, targets, scaler).to_numpy(float),
        times=pd.DatetimeIndex(frame.index),
        scaler=scaler,
        train_end=train_end,
        val_end=val_end,
    )


def with_lags(frame: pd.DataFrame, targets: Sequence[str], lags: int) -> pd.DataFrame:
    """Gaps interpolated, then ``lags`` lagged copies of each target: the columns the
    scaler sees. Preprocess and the inference server both build them here."""
    out = frame.interpolate(limit_direction="both")
    for target in targets:
        for lag in range(1, lags + 1):
            out[f"{target}_lag{lag}"] = out[target].shift(lag).bfill()
    return out


def model_inputs(frame: pd.DataFrame, targets: Sequence[str], scaler: Scaler) -> pd.DataFrame:
    """``SeriesArrays.x``: the scaled targets first, then exogenous columns and lags, then
    the time features. The neural and tree models' weights depend on this order."""
    features = [c for c in frame.columns if c not in targets]
    scaled = scaler.transform(frame)
    return pd.concat([scaled[[*targets, *features]], time_features(frame.index)], axis=1)


def future_times(times: pd.DatetimeIndex, step_seconds: float, h: int) -> pd.DatetimeIndex:
    """The ``h`` timestamps after ``times``: its recent calendar frequency when it has one
    (month ends stay month ends), else the series' step."""
    recent = times[-min(len(times), 50) :]
    freq = pd.infer_freq(recent) if len(recent) >= 3 else None
    return pd.date_range(times[-1], periods=h + 1, freq=freq or pd.Timedelta(seconds=step_seconds))[
        1:
    ]


def time_features(index: pd.DatetimeIndex) -> pd.DataFrame:
    """Cyclical encodings of minute of day, day of week and day of year."""
    minute = index.hour * 60 + index.minute
    feats: dict[str, Any] = {}
    for name, value, period in (
        ("minute_of_day", minute, 1440),
        ("day_of_week", index.dayofweek, 7),
        ("day_of_year", index.dayofyear, 365.25),
    ):
        angle = 2 * np.pi * np.asarray(value, dtype=float) / period
        feats[f"{name}_sin"], feats[f"{name}_cos"] = np.sin(angle), np.cos(angle)
    return pd.DataFrame(feats, index=index)
