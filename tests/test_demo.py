"""``millrace demo --exit`` - the README's main command - on a machine with no config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import free_port


@pytest.mark.slow
def test_demo_runs_both_journeys_to_completion_from_nothing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILLRACE_")}
    done = subprocess.run(
        [sys.executable, "-m", "millrace", "demo", "--exit", "--port", str(free_port())],
        cwd=tmp_path,
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": completed") == 2, done.stdout
    assert "xai/model_explanation/beginner" in done.stdout
    assert "diabetes-automl" in done.stdout
    assert "air-passengers-forecast" in done.stdout
    assert "mase=" in done.stdout  # the forecasting champion's test scores
    assert done.stdout.count("s budget") == 2  # each agent's own time, apart from queueing
    assert "Web UI: http://" in done.stdout
    assert not (tmp_path / "mlruns").exists()  # MLflow artifacts stay in the data dir
    assert (tmp_path / ".millrace" / "millrace.db").is_file()
    assert (tmp_path / ".millrace" / "mlflow.db").is_file()
