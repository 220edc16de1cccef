"""Shared pipeline fixtures: statsforecast's AirPassengers, as a CSV with a time column."""

from __future__ import annotations

from pathlib import Path

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
