"""The demo's summary pieces: web UI links, the gate's verdict, predict lines, its token."""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import pandas as pd
from rich.console import Console

from millrace.cli.demo import TOKEN_FILE, _demo_token, _wait_served
from millrace.cli.demo_summary import predict_line, summary_table, ui_links, write_inputs
from millrace.settings import Settings
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import session_scope
from millrace.warehouse.models import ApiToken
from millrace.warehouse.users import authenticate
from tests.support import free_port

JOURNEY = {
    "id": "j" * 32,
    "state": "completed",
    "task_type": "forecasting",
    "steps": {
        "bias": {"state": "done", "outputs": {"bias_report_id": "b1"}},
        "automl": {
            "state": "done",
            "outputs": {
                "model_id": "air-forecast",
                "model_version": 2,
                "promotion": {
                    "promoted": False,
                    "reason": "v2 not promoted, kept as challenger: it does not beat ...",
                },
            },
        },
        "xai": {"state": "done", "outputs": {"reports": {"model_explanation/expert": "x1"}}},
    },
}


def test_links_are_the_web_uis_pages() -> None:
    assert ui_links(JOURNEY, "http://h:1") == {
        "journey": f"http://h:1/#/journeys/{'j' * 32}",
        "bias_report": "http://h:1/#/bias/b1",
        "model": "http://h:1/#/models/air-forecast",
        "forecasts": "http://h:1/#/forecasts/air-forecast/v/2",
        "xai/model_explanation/expert": "http://h:1/#/xai/x1",
    }


def test_a_challenger_is_named_so_with_the_gates_reason() -> None:
    attrs = {"algorithm": "naive", "test_scores": {"mase": 1.2}}
    model = {"id": "air-forecast", "version": {"version": 2, "attributes": attrs}}
    console = Console(width=200, record=True)
    console.print(summary_table(JOURNEY, model))
    text = console.export_text()
    assert "challenger" in text and "air-forecast v2" in text
    assert "v2 not promoted, kept as challenger" in text
    assert "champion" not in text.replace("not beat the champion", "")


def test_inputs_leave_out_the_target_and_the_line_runs_as_shell(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": range(10), "y": range(10)})
    paths = write_inputs({"m": (frame, "y"), "f": (frame, None)}, tmp_path / "in")
    assert list(pd.read_csv(paths["m"]).columns) == ["a"] and len(pd.read_csv(paths["m"])) == 5
    assert len(pd.read_csv(paths["f"])) == 10  # a forecaster gets the whole history
    words = shlex.split(predict_line("m", paths["m"], "http://127.0.0.1:8080", "mr_x"))
    assert words[0] == "MILLRACE_TOKEN=mr_x"
    assert words[1].endswith("millrace")
    assert words[2:] == [
        "predict",
        "m",
        "--input",
        str(paths["m"]),
        "--serve-url",
        "http://127.0.0.1:8080",
    ]


def test_each_run_reuses_the_demo_token_or_revokes_the_old_ones(tmp_path: Path) -> None:
    wh = Warehouse.open(Settings(home=tmp_path / "home"))
    try:
        first = _demo_token(wh)
        assert _demo_token(wh) == first  # reused
        (wh.settings.home / TOKEN_FILE).unlink()  # lost: a new one, the old one revoked
        second = _demo_token(wh)
        assert second != first
        with session_scope(wh.sessions) as session:
            assert authenticate(session, second).id == "demo"
            rows = session.query(ApiToken).filter_by(user_id="demo").all()
            assert sorted(r.revoked for r in rows) == [False, True]
    finally:
        wh.close()


def test_an_inference_server_that_never_came_up_is_noticed_quickly() -> None:
    """Its port was taken: the demo says so instead of waiting out the loading time."""
    started = time.monotonic()
    assert not _wait_served(f"http://127.0.0.1:{free_port()}", "mr_x", ["m"], absent_s=1)
    assert time.monotonic() - started < 10
