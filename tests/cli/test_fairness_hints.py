"""The bias report's and AutoML's hints from the client and the CLI, against the real API
process (which runs no agents: a journey goes as far as ``bias``)."""

from __future__ import annotations

import json
from pathlib import Path

from millrace.client import Client
from tests.conftest import UserClient, millrace_cli
from tests.helpers import csv_bytes


def _csv(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes(40))
    return path


def test_the_client_sends_the_hints(user: UserClient, tmp_path: Path) -> None:
    with Client(user.api.url, user.token, timeout=60) as client:
        client.upload_dataset(_csv(tmp_path), user_id=user.user_id)
        waiting = client.start_journey(
            "people",
            target_column="label",
            sensitive_columns=["sex"],
            favorable_label="1",
            privileged_groups={"sex": "x"},
        )
        assert waiting["state"] == "needs_input"
        assert (
            "privileged group 'x' is not a group of 'sex' (its groups: 'f', 'm')"
            in (waiting["reason"])
        )
        started = client.answer_journey(
            waiting["id"], privileged_groups={"sex": "m"}, metric="roc_auc"
        )
    assert started["state"] == "bias", started["reason"]
    assert (started["favorable_label"], started["privileged_groups"], started["metric"]) == (
        "1",
        {"sex": "m"},
        "roc_auc",
    )


def test_the_cli_takes_the_hints(user: UserClient, tmp_path: Path) -> None:
    env = {"MILLRACE_URL": user.api.url, "MILLRACE_TOKEN": user.token}
    path = _csv(tmp_path)
    done = millrace_cli(
        env, "datasets", "upload", str(path), "--target", "label", "--sensitive", "sex",
        "--favorable-label", "0", "--privileged", "sex=f", "--metric", "log_loss", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    journey = json.loads(done.stdout)["version"]["attributes"]["journey"]
    assert journey["favorable_label"] == "0"
    assert journey["privileged_groups"] == {"sex": "f"}
    assert journey["metric"] == "log_loss"
    bad = millrace_cli(env, "datasets", "upload", str(path), "--privileged", "sex")
    assert bad.returncode != 0
    assert "column=group pairs" in bad.stderr
