"""Shared pipeline fixtures: statsforecast's AirPassengers, as a CSV with a time column."""

from __future__ import annotations

from pathlib import Path

import pytest
from statsforecast.utils import AirPassengersDF


@pytest.fixture
def air(tmp_path: Path) -> Path:
    path = tmp_path / "air.csv"
    AirPassengersDF.rename(columns={"ds": "time"})[["time", "y"]].to_csv(path, index=False)
    return path
