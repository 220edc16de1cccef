"""What every forecaster shares: the series it reads, the small interface it implements,
and how its files are saved and read back."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from millrace.atomic import replacing_dir
from millrace.exceptions import InvalidInputError

__all__ = [
    "Data",
    "Forecaster",
    "SeriesArrays",
    "as_units",
    "holdout",
    "input_window",
    "model_files",
    "normalise",
    "save_model",
    "season_length",
    "too_short",
    "windows",
]


@dataclass
class SeriesArrays:
    """One target of one prepared series, whole; models read only what lies before an
    origin. A series with several targets gives one of these per target, sharing ``x``."""

    y: np.ndarray  # original scale
    y_scaled: np.ndarray
    # Scaled inputs aligned with y: the ``n_targets`` targets first (``y_scaled`` is column
    # ``target_index``), then exogenous columns and lags, then time features.
    x: np.ndarray
    times: pd.DatetimeIndex
    train_end: int
    val_end: int
    season: int
    target_mean: float
    target_std: float
    target_log: bool = False  # y_scaled is standardised log1p(y)
    key: str = ""  # the series' id in a panel
    target: str = ""
    target_index: int = 0
    n_targets: int = 1

    @property
    def unit(self) -> tuple[str, str]:
        return self.key, self.target

    def unscale(self, scaled: np.ndarray) -> np.ndarray:
        """A scaled target back on the original scale."""
        out = scaled * self.target_std + self.target_mean
        return np.expm1(out) if self.target_log else out


Data = SeriesArrays | Sequence[SeriesArrays]


def as_units(data: Data) -> list[SeriesArrays]:
    return [data] if isinstance(data, SeriesArrays) else list(data)


def windows(
    units: list[SeriesArrays], w: int, h: int, span: Callable[[SeriesArrays], tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Input windows of ``w`` steps of every scaled column, once per series (its targets
    share them), for the label starts ``span(series)`` gives (at least ``w``); and the
    labels, all targets' scaled values ``h`` steps on. Shapes (n, w, columns), (n, h, k).

    Both are locally normalised (``normalise``): what the windowed models learn is the
    shape of the next ``h`` steps relative to the window, not a level, so a trend carries
    on past every level seen in training."""
    xs, ys = [], []
    for s in units:
        if s.target_index:
            continue
        start, end = span(s)
        feats = s.x.astype(np.float32)
        idx = np.arange(max(start, w), end - h + 1)
        xs += [feats[i - w : i] for i in idx]
        ys += [feats[i : i + h, : s.n_targets] for i in idx]
    if not xs:
        return (
            np.empty((0, w, units[0].x.shape[1]), np.float32),
            np.empty((0, h, units[0].n_targets), np.float32),
        )
    x, level, scale = normalise(np.stack(xs), units[0].n_targets)
    return x, (np.stack(ys) - level[:, None, :]) / scale[:, None, :]


# Floor of a window's scale, in units of the training rows' standard deviation: a flat
# window (a sensor stuck, a night of zero traffic) would otherwise turn the next small
# move into a huge label.
_SCALE_FLOOR = 0.1


def normalise(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Windows (n, w, columns) with the ``k`` target columns shifted by their window mean
    and divided by their window standard deviation; and those levels and scales (n, k).

    The target columns arrive standardised by the training rows' scaler, an affine map
    that this normalisation cancels: a window's normalised values depend on that window
    alone, never on rows after it (the scaler's statistics do not leak into them)."""
    targets = x[:, :, :k]
    level = targets.mean(axis=1)
    scale = np.maximum(targets.std(axis=1), _SCALE_FLOOR)
    out = x.copy()
    out[:, :, :k] = (targets - level[:, None, :]) / scale[:, None, :]
    return out, level, scale


def input_window(s: SeriesArrays, origin: int, w: int) -> np.ndarray:
    """The ``w`` rows of ``s.x`` before ``origin``, shape (1, w, columns); a series with
    fewer rows is padded at the front with its first row, so a short series still gets a
    forecast (its window's statistics come from the rows it has)."""
    rows = s.x[max(0, origin - w) : origin].astype(np.float32)
    if len(rows) < w:
        rows = np.concatenate([np.repeat(rows[:1], w - len(rows), axis=0), rows])
    return rows[None, :, :]


def holdout(s: SeriesArrays, h: int) -> int:
    """Where a windowed model's early-stopping labels start: the last stretch of the rows
    it may fit (at least the horizon, else 15%). The stretch it is scored on afterwards is
    never the one it stopped on, which would flatter it."""
    return s.train_end - max(h, int(0.15 * s.train_end))


_LEAST_WINDOWS = 8  # training windows below which a windowed model learns nothing usable


def too_short(name: str, train: np.ndarray, check: np.ndarray, w: int, h: int) -> None:
    """A clear refusal when no series holds a training and an early-stopping window: the
    runner leaves this candidate out and the others still choose a champion."""
    if len(train) >= _LEAST_WINDOWS and len(check):
        return
    raise InvalidInputError(
        f"{name}: the series are too short for windows of {w} steps plus {h} ahead "
        "(and a stretch to stop early on); it sits this one out"
    )


def season_length(step: pd.Timedelta) -> int:
    """The natural season for the step, bounded so seasonal models stay fast."""
    seconds = step.total_seconds()
    table = {60 * 60: 24, 30 * 60: 48, 24 * 3600: 7, 7 * 24 * 3600: 52}
    if seconds in table:
        return table[seconds]
    if 28 * 86400 <= seconds <= 31 * 86400:
        return 12
    if 89 * 86400 <= seconds <= 92 * 86400:
        return 4
    if seconds < 3600:
        return int(86400 // seconds)  # one day of steps; only seasonal naive uses it whole
    return 1


def model_files(folder: Path) -> dict[str, bytes]:
    """A saved model's files by relative path (an ensemble keeps members in subfolders)."""
    paths = sorted(p for p in folder.rglob("*") if p.is_file())
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in paths}


def save_model(model: Forecaster, folder: Path) -> None:
    """Make ``folder`` hold ``model.save()``, which ``model_files`` reads back.

    The folder is replaced whole: ``model_files`` loads every file under it, so a
    half-written save, or an earlier model's leftover files, would load as a broken model.
    """
    files = model.save()
    with replacing_dir(folder) as tmp:
        for name, data in files.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_bytes(data)


class Forecaster(ABC):
    name: ClassVar[str]
    # Reads a window of ``input_seq_len`` steps and forecasts its trained horizon in one
    # shot (the neural and tree models); the others forecast any length from any history.
    windowed: ClassVar[bool] = False

    def __init__(self, **params: Any) -> None:
        self.params = params
        self.log: dict[str, Any] = {}

    @abstractmethod
    def fit(self, data: Data, seed: int = 0, budget_s: float | None = None) -> None: ...

    @abstractmethod
    def forecast(self, s: SeriesArrays, origin: int, h: int) -> np.ndarray: ...

    def save(self) -> dict[str, bytes]:
        return {"spec.json": json.dumps({"name": self.name, "params": self.params}).encode()}

    def load_state(self, files: dict[str, bytes], data: Data) -> None:
        """Restore from ``save()``; by default refit (deterministic and cheap) with the
        saved params, which carry what a search chose (the statistical models' ``specs``):
        without them every restore would search again, on other rows."""
        if "spec.json" in files:
            self.params.update(json.loads(files["spec.json"])["params"])
        self.fit(data)

    @property
    def restores_by_refit(self) -> bool:
        """Whether ``load_state`` needs the training series (it refits on it)."""
        return type(self).load_state is Forecaster.load_state
