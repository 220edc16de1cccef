"""The client and the CLI against ``millrace up``: real agents, a real model, real serving.

Two journeys on one dataset make two model versions: the first through the Python client
(uploaded without a target, so it waits in needs_input until answered), the second through
``millrace datasets upload --wait --json``. Then the registry and the inference server.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from millrace.client import Client
from tests.cli.conftest import BUDGET, Stack

DATASET, MODEL = "diabetes", "diabetes-automl"


@pytest.fixture(scope="module")
def first(stack: Stack) -> dict[str, Any]:
    """v1 through the client: no target at upload, so the journey asks for one."""
    with stack.client() as client:
        body = client.upload_dataset(stack.data, user_id=stack.user_id, dataset_id=DATASET)
        journey_id = client.wait_for_journey_id(DATASET, body["version"]["version"])
        waiting = client.wait_for_journey(journey_id, timeout=30)
        answered = client.answer_journey(
            journey_id, target_column="high_risk", sensitive_columns=["sex"], time_budget_s=BUDGET
        )
        done = client.wait_for_journey(journey_id, timeout=120)
    return {"waiting": waiting, "answered": answered, "done": done}


@pytest.fixture(scope="module")
def second(stack: Stack, first: dict[str, Any]) -> dict[str, Any]:
    """v2 through the CLI, which follows the journey to its end."""
    done = stack.cli(
        "datasets", "upload", str(stack.data), "--dataset", DATASET, "--target", "high_risk",
        "--sensitive", "sex", "--budget", str(BUDGET), "--wait", "--timeout", "120", "--json",
    )  # fmt: skip
    assert done.returncode == 0, f"{done.stderr}\n{stack.logs()}"
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_needs_input_is_answered_and_the_journey_completes(
    stack: Stack, first: dict[str, Any]
) -> None:
    assert first["waiting"]["state"] == "needs_input"
    assert "high_risk" in first["waiting"]["reason"]
    assert first["answered"]["state"] == "bias"
    done = first["done"]
    assert done["state"] == "completed", stack.logs()
    assert all(done["steps"][s]["state"] == "done" for s in ("bias", "automl", "xai"))
    assert done["steps"]["automl"]["outputs"]["model_version"] == 1


def test_the_journeys_reports_through_the_client(stack: Stack, first: dict[str, Any]) -> None:
    links = first["done"]["links"]
    with stack.client() as client:
        (bias,) = client.reports("bias", dataset_id=DATASET)
        assert links["bias_report"].endswith(bias["id"])
        assert client.report("bias", bias["id"])["content"] == bias["content"]
        assert "sex" in json.dumps(bias["content"])
        assert "Fairness" in client.view(links["bias_report_view"])
        xai = client.reports("xai", dataset_id=DATASET)
        assert len(xai) == 4
        views = [v for k, v in links.items() if k.startswith("xai/")]
        assert sorted(v.split("/")[-2] for v in views) == sorted(r["id"] for r in xai)
        assert client.view(views[0]).startswith("<!doctype html>")
        board = client.leaderboard(MODEL, 1)
        assert board and {"estimator", "config"} <= set(board[0])


def test_cli_upload_waits_for_the_journey_and_prints_json(second: dict[str, Any]) -> None:
    assert second["dataset"]["version"]["version"] == 2
    journey = second["journey"]
    assert journey["state"] == "completed"
    assert (journey["dataset_version"], journey["target_column"]) == (2, "high_risk")
    assert journey["steps"]["automl"]["outputs"]["model_version"] == 2


def test_cli_lists_and_shows_journeys(stack: Stack, second: dict[str, Any]) -> None:
    listed = stack.cli_json("journeys", "list", "--dataset", DATASET)
    assert [j["dataset_version"] for j in listed] == [2, 1]
    shown = stack.cli_json("journeys", "show", listed[1]["id"])
    assert shown["state"] == "completed"
    assert stack.cli_json("datasets", "list")[0]["versions"] == [1, 2]
    table = stack.cli("journeys", "show", listed[0]["id"])  # for people: steps and links
    assert table.returncode == 0, table.stderr
    for text in ("bias", "automl", "xai", "completed", f"{MODEL} v2", "/view"):
        assert text in table.stdout


def _served_version(client: Client, version: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Predict until the inference server serves ``version`` (it follows within a second)."""
    deadline = time.monotonic() + 30
    while True:
        result = client.predict(MODEL, rows)
        if result["version"] == version or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def test_promote_and_rollback_move_what_is_served(
    stack: Stack, second: dict[str, Any], tmp_path: Path
) -> None:
    frame = pd.read_csv(stack.data).drop(columns=["high_risk"]).head(5)
    rows = json.loads(frame.to_json(orient="records"))
    with stack.client() as client:
        (champion,) = client.registry_models()
        assert champion["model_id"] == MODEL
        if champion["champion_version"] == "1":  # the gate kept v1: v2 (same data) was no better
            assert stack.cli_json("models", "promote", MODEL, "2")["champion_version"] == "2"
        assert _served_version(client, "2", rows)["version"] == "2"

        promoted = stack.cli_json("models", "promote", MODEL, "1")
        assert promoted["champion_version"] == "1"
        served = _served_version(client, "1", rows)
        assert served["version"] == "1"
        assert len(served["predictions"]) == 5
        assert set(served["predictions"]) <= {0, 1}

        shown = stack.cli_json("models", "show", MODEL)
        assert [(v["version"], v["champion"]) for v in shown["versions"]] == [
            ("2", False),
            ("1", True),
        ]
        assert client.rollback(MODEL)["champion_version"] == "2"
        assert stack.cli_json("models", "list")[0]["champion_version"] == "2"
        expected = _served_version(client, "2", rows)

    csv_rows, json_rows = tmp_path / "rows.csv", tmp_path / "rows.json"
    frame.to_csv(csv_rows, index=False)
    json_rows.write_text(json.dumps({"records": rows}))
    for path in (csv_rows, json_rows):
        out = stack.cli_json("predict", MODEL, "--input", str(path))
        assert (out["version"], out["predictions"]) == ("2", expected["predictions"])
    table = stack.cli("predict", MODEL, "--input", str(csv_rows), "--proba")
    assert table.returncode == 0, table.stderr
    assert f"{MODEL} v2" in table.stdout and "p(1)" in table.stdout
