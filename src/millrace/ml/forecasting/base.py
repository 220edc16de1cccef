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

__all__ = [
    "Data",
    "Forecaster",
    "SeriesArrays",
    "as_units",
    "model_files",
    "save_model",
    "season_length",
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
    labels, all targets' scaled values ``h`` steps on. Shapes (n, w, columns), (n, h, k)."""
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
    return np.stack(xs), np.stack(ys)


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
        """Restore from ``save()``; by default refit (deterministic and cheap)."""
        self.fit(data)

    @property
    def restores_by_refit(self) -> bool:
        """Whether ``load_state`` needs the training series (it refits on it)."""
        return type(self).load_state is Forecaster.load_state
