"""``millrace demo`` - the README's main command - on a machine with no config: once with
``--exit``, then again in the same folder serving, as a newcomer would run it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support import free_port


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILLRACE_")}
    return {**env, "COLUMNS": "200"}


def _tokens(home: Path) -> list[tuple[str, bool]]:
    engine = create_engine(f"sqlite:///{home / 'millrace.db'}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT token_sha256, revoked FROM api_tokens WHERE user_id = 'demo'")
            )
            return [(r[0], bool(r[1])) for r in rows]
    finally:
        engine.dispose()


@pytest.mark.slow
def test_demo_runs_both_journeys_then_serves_its_champions(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "millrace", "demo", "--exit", "--port", str(free_port())],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert out.count(": completed") == 2, out
    assert "xai/model_explanation/beginner" in out
    assert "diabetes-automl" in out
    assert "air-passengers-forecast" in out
    assert "mase=" in out  # the forecasting champion's test scores
    assert out.count("s budget") == 2  # each agent's own time, apart from queueing
    assert out.count("is the first champion") == 2  # the gate's word on each model
    # Links open the web UI's pages; the API's answer 401 in a browser.
    assert re.search(r"http://127\.0\.0\.1:\d+/#/journeys/[0-9a-f]{32}", out), out
    assert re.search(r"http://127\.0\.0\.1:\d+/#/bias/[0-9a-f]{32}", out), out
    assert "/api/v1/" not in out
    assert "The demo has stopped (--exit)" in out
    assert "token below" not in out and "Serving until" not in out  # nothing stays up
    first_token = re.search(r"token, for then: (mr_\S+)", out)
    assert first_token is not None, out
    assert not (tmp_path / "mlruns").exists()  # MLflow artifacts stay in the data dir
    home = tmp_path / ".millrace"
    assert (home / "millrace.db").is_file()
    assert (home / "mlflow.db").is_file()
    assert (home / "demo-token").stat().st_mode & 0o077 == 0  # the owner's alone

    # Again in the same folder, serving: the same token, and predict lines that work.
    serve_port = free_port()
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "millrace",
            "demo",
            "--port",
            str(free_port()),
            "--serve-port",
            str(serve_port),
        ],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert demo.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 600
        for line in demo.stdout:
            lines.append(line)
            if line.startswith("Serving until Ctrl-C") or time.monotonic() > deadline:
                break
        out = "".join(lines)
        assert f"Your token: {first_token[1]}" in out, out  # reused, not minted again
        assert "sign in with the token below" in out
        predicts = [line.strip() for line in lines if line.strip().startswith("MILLRACE_TOKEN=")]
        assert len(predicts) == 2, out
        for line in predicts:
            assert f"--serve-url http://127.0.0.1:{serve_port}" in line
            ran = subprocess.run(
                ["bash", "-c", line],
                cwd=tmp_path.parent,  # another shell, somewhere else
                env=_env(),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert ran.returncode == 0, ran.stdout + ran.stderr
            assert " v" in ran.stdout.splitlines()[0]  # "<model> v<version>", then rows
    finally:
        demo.terminate()
        demo.wait(60)
    assert [revoked for _, revoked in _tokens(home)] == [False]
