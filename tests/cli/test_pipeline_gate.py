"""``millrace pipeline run`` says whether its champion went live, and why not."""

from __future__ import annotations

from pathlib import Path

from statsforecast.utils import AirPassengersDF

from tests.conftest import millrace_cli


def test_a_worse_second_run_says_it_is_the_challenger(tmp_path: Path) -> None:
    data = tmp_path / "air.csv"
    AirPassengersDF.rename(columns={"ds": "time"})[["time", "y"]].to_csv(data, index=False)
    env = {"MILLRACE_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    args = ["pipeline", "run", "--data", str(data), "--target", "y", "--horizon", "6"]
    first = millrace_cli(env, *args, "--models", "seasonal_naive")
    assert first.returncode == 0, first.stderr
    assert "Registry: v1 is the first champion" in first.stdout
    # The naive forecast ignores the yearly season: worse on purpose.
    second = millrace_cli(env, *args, "--models", "naive")
    assert second.returncode == 0, second.stderr
    assert "Registry: v2 not promoted, kept as challenger" in second.stdout, second.stdout
    assert "test mase" in second.stdout
