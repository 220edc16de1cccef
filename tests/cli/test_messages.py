"""What a newcomer meets first: exit codes a script can branch on, a wrong URL named as
such, lists that say when they were cut, tables that keep every column, and ``millrace
up --host``.

The CLI runs as a subprocess against ``millrace up`` (the session's stack), a plain
``http.server`` standing in for "some other server", or its own ``millrace up``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from millrace.cli.errors import NEEDS_INPUT_EXIT
from millrace.exceptions import InvalidInputError
from millrace.serving.inputs import from_records
from tests.cli.conftest import BUDGET, Stack
from tests.conftest import millrace_cli
from tests.support import free_port, stop_pid, wait_http


def _one_line(done: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: ")
    for needle in needles:
        assert needle in done.stderr, done.stderr
    return done.stderr


def test_wait_exits_3_when_the_journey_waits_for_input(stack: Stack) -> None:
    """No target: the journey stops in needs_input, which a script must not read as done."""
    args = ("datasets", "upload", str(stack.data), "--dataset", "no-target", "--wait")
    done = stack.cli(*args, "--timeout", "60", "--json")
    err = _one_line(done, NEEDS_INPUT_EXIT, "needs input", "high_risk")
    journey = json.loads(done.stdout)["journey"]  # --json still prints the journey
    assert journey["state"] == "needs_input"
    assert journey["id"] in err

    shown = stack.cli("journeys", "show", journey["id"], "--wait", "--timeout", "30")
    _one_line(shown, NEEDS_INPUT_EXIT, "needs input")
    assert f"millrace journeys answer {journey['id']} --target COLUMN" in shown.stdout
    assert stack.cli("journeys", "show", journey["id"]).returncode == 0  # no --wait: shown
    wrong = stack.cli("journeys", "answer", journey["id"], "--target", "HIGH_RISK", "--json")
    assert wrong.returncode in (1, NEEDS_INPUT_EXIT), wrong.stderr  # refused or still waiting
    assert "Traceback" not in wrong.stderr


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def stranger(tmp_path: Path) -> Iterator[str]:
    """A web server that is not Millrace: Python's file server over a folder with one page
    where Millrace's dataset list would be."""
    page = tmp_path / "api" / "v1" / "datasets"
    page.parent.mkdir(parents=True)
    page.write_text("<html><body>hello</body></html>")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_that_is_not_millrace_is_named_as_such(stack: Stack, stranger: str) -> None:
    where = "check --url or MILLRACE_URL"
    done = stack.cli("journeys", "list", "--url", stranger)
    _one_line(done, 1, f"{stranger} is not a Millrace API", "404", "text/html", where)
    assert done.stdout == ""
    page = stack.cli("datasets", "list", "--url", stranger)  # 200, but HTML, not JSON
    _one_line(page, 1, f"{stranger} is not a Millrace API", "200 OK", where)

    rows = stack.home / "stranger-rows.json"
    rows.write_text('[{"age": 50}]')
    served = stack.cli("predict", "m", "--input", str(rows), "--serve-url", stranger)
    _one_line(served, 1, f"{stranger} is not a Millrace inference server", "POST", "--serve-url")
    # The API's URL given for the inference server's, and back: Millrace, but not that one.
    swapped = stack.cli("journeys", "list", "--url", stack.serve_url)
    _one_line(swapped, 1, f"{stack.serve_url} has no GET /api/v1/journeys", "not the API")
    swapped = stack.cli("predict", "m", "--input", str(rows), "--serve-url", stack.url)
    _one_line(swapped, 1, "not the inference server (the API?", "--serve-url")
    # Millrace's own refusals keep their reason (they are problem documents).
    _one_line(stack.cli("models", "show", "no-such-model"), 1, "no-such-model")


def test_a_cut_list_of_missing_columns_says_how_many_more() -> None:
    wanted = [f"feature_{i:02d}" for i in range(28)]
    with pytest.raises(InvalidInputError) as caught:
        from_records([{"age": 50}], wanted)
    reason = caught.value.detail
    assert "'feature_09' and 18 more;" in reason
    assert "'feature_10'" in reason  # the model's full list of 28 follows (30 fit)
    assert not reason.endswith("more")
    wide = [f"c{i}" for i in range(40)]
    with pytest.raises(InvalidInputError) as caught:
        from_records([{"age": 50}], wide)
    assert caught.value.detail.endswith("'c29' and 10 more")


@pytest.fixture(scope="module")
def model(stack: Stack) -> str:
    done = stack.cli(
        "datasets", "upload", str(stack.data), "--dataset", "wide", "--target", "high_risk",
        "--budget", str(BUDGET), "--wait", "--timeout", "120", "--json",
    )  # fmt: skip
    assert done.returncode == 0, f"{done.stderr}\n{stack.logs()}"
    return "wide-automl"


def _metric_names(stack: Stack, model_id: str) -> list[str]:
    shown = stack.cli_json("models", "show", model_id)
    names = {k for v in shown["versions"] for k in v["metrics"] if k.startswith("test_")}
    return sorted(n.removeprefix("test_") for n in names)


def test_models_show_keeps_every_column_and_says_who_promoted(stack: Stack, model: str) -> None:
    names = _metric_names(stack, model)
    assert len(names) >= 4
    piped = stack.cli("models", "show", model)  # a pipe: no width, Rich would assume 80
    assert piped.returncode == 0, piped.stderr
    assert "…" not in piped.stdout
    header = next(line for line in piped.stdout.splitlines() if "version" in line)
    for name in names:
        assert f" {name} " in header, header
    assert "by system at" in piped.stdout  # the agent promoted it, as the web UI says
    assert "by -" not in piped.stdout

    # A terminal narrower than the table: the scores turned on their side, still whole.
    narrow = stack.cli("models", "show", model, TTY_COMPATIBLE="1", COLUMNS="50", NO_COLOR="1")
    assert narrow.returncode == 0, narrow.stderr
    text = re.sub(r"\x1b\[[0-9;]*m", "", narrow.stdout)  # bold headers, even without colour
    assert "…" not in text
    assert all(len(line) <= 50 for line in text.splitlines()[1:]), text
    for name in names:
        assert any(line.split("│")[1].strip() == name for line in _rows(text))


def _rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("│")]


def test_up_binds_the_host_it_is_given(tmp_path: Path) -> None:
    """``--host`` binds the API and the inference server; here a second loopback address,
    so the default one must refuse."""
    host, port, serve_port = "127.0.0.2", free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILLRACE_")}
    log = (tmp_path / "up.log").open("wb")
    args = ["up", "--host", host, "--port", str(port), "--serve-port", str(serve_port)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "millrace", *args],
        env={**env, "MILLRACE_HOME": str(tmp_path)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_http(f"http://{host}:{port}/health", proc)
        wait_http(f"http://{host}:{serve_port}/v2/health/live", proc)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
    finally:
        stop_pid(proc.pid)
        log.close()
    done = millrace_cli({}, "up", "--help")
    assert "--host" in done.stdout and "0.0.0.0" in done.stdout


def test_sample_writes_the_quick_starts_files(tmp_path: Path) -> None:
    """The README's first upload and first predict read files this command writes."""
    env = {"MILLRACE_HOME": str(tmp_path)}
    data, rows = tmp_path / "diabetes.csv", tmp_path / "rows.csv"
    done = millrace_cli(env, "sample", "diabetes", "--output", str(data))
    assert done.returncode == 0, done.stderr
    assert "442 rows" in done.stdout and "target high_risk" in done.stdout
    frame = pd.read_csv(data)
    assert frame.shape == (442, 11)
    assert set(frame["high_risk"]) == {0, 1}
    args = ("sample", "diabetes", "--head", "5", "--drop-target", "--output", str(rows))
    assert millrace_cli(env, *args).returncode == 0
    assert pd.read_csv(rows).equals(frame.drop(columns="high_risk").head(5))
    series = tmp_path / "air.csv"
    assert millrace_cli(env, "sample", "air-passengers", "-o", str(series)).returncode == 0
    assert list(pd.read_csv(series).columns) == ["month", "passengers"]
    _one_line(millrace_cli(env, "sample", "credit"), 1, "unknown sample 'credit'", "diabetes")
