"""``benchmarks/locustfile.py`` runs headless against a live server, without failures."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest

from tests.serving.conftest import ServedWorld
from tests.support import REPO


@pytest.mark.parametrize(
    ("user", "model", "extra"),
    [("PredictUser", "credit", {}), ("ForecastUser", "air", {"MILLRACE_LENGTH": "3"})],
)
def test_locustfile_runs_headless(
    served: ServedWorld, user: str, model: str, extra: dict[str, str]
) -> None:
    prefix = served.settings.home / f"locust-{user}"
    if user == "ForecastUser":
        extra = {**extra, "MILLRACE_HISTORY": str(served.forecast_data)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(REPO / "benchmarks" / "locustfile.py"),
            "--headless",
            "-u",
            "2",
            "-r",
            "2",
            "-t",
            "3s",
            "-H",
            served.url,
            "--csv",
            str(prefix),
            "--only-summary",
            user,
        ],
        env={
            **os.environ,
            "MILLRACE_TOKEN": served.tokens["alice"],
            "MILLRACE_MODEL": model,
            **extra,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with open(f"{prefix}_stats.csv", newline="") as f:
        total = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    assert int(total["Request Count"]) > 0
    assert int(total["Failure Count"]) == 0
