"""Seed 004's partners take a Millrace journey's steps, on a real Kafka broker (Tansu).

``millrace up`` runs with ``MILLRACE_AGENTS=core``: the core agent, the outbox relay and the
API, nothing else. Bias, AutoML and XAI are done by consumers written like seed 004's
(tests/agents/seed_partners.py): plain Kafka clients that read only the seed's fields and
call only the seed's routes, with an ``Authorization`` header. None of them knows the
journey; the core matches what they post to it, and the journey completes. And with no
partner running, ``millrace up``'s core fails the waiting step after its time-out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.agents.seed_partners import Partner, automl_trainer, bias_detector, xai_explainer
from tests.agents.world import diabetes_frame
from tests.conftest import millrace_cli
from tests.support import free_port, stop_pid, wait_http

pytestmark = pytest.mark.slow


class Deployment:
    def __init__(self, home: Path, url: str, user_id: str, token: str) -> None:
        self.home, self.url, self.user_id, self.token = home, url, user_id, token

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, timeout=60, headers={"Authorization": f"Bearer {self.token}"}
        )

    def log(self) -> str:
        return (self.home / "up.log").read_text()[-6000:]


@contextmanager
def _up(home: Path, env: dict[str, str]) -> Iterator[Deployment]:
    """``millrace up`` in ``home`` with ``env``, and a fresh user's token; stopped by PID."""
    env = {"MILLRACE_HOME": str(home), "USE_KFP": "0", **env}
    user_id = f"partner{uuid.uuid4().hex[:8]}"  # the session's broker is shared: be unique
    made = millrace_cli(env, "users", "create", user_id, "--json")
    assert made.returncode == 0, made.stderr
    token = json.loads(made.stdout)["token"]
    port = free_port()
    log = (home / "up.log").open("wb")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MILLRACE_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "millrace", "up", "--port", str(port), "--serve-port", "0"],
        env={**clean, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", proc)
        yield Deployment(home, url, user_id, token)
    finally:
        stop_pid(proc.pid)
        log.close()


@pytest.fixture
def core_only(tmp_path: Path, kafka_bootstrap: str) -> Iterator[Deployment]:
    """``millrace up`` on Kafka with only the core agent of Millrace's four."""
    bus = {"MILLRACE_EVENT_BUS": f"kafka://{kafka_bootstrap}", "MILLRACE_AGENTS": "core"}
    with _up(tmp_path, bus) as dep:
        yield dep


def _upload(dep: Deployment, dataset_id: str) -> None:
    with dep.http() as c:
        r = c.post(
            f"/datasets/upload/{dep.user_id}",
            files={"file": ("diabetes.csv", diabetes_frame().to_csv(index=False).encode())},
            data={
                "dataset_id": dataset_id,
                "target_column": "high_risk",
                "sensitive_columns": "sex",
                "time_budget_s": "30",
            },
        )
        assert r.status_code == 200, r.text


def _journey(dep: Deployment, dataset_id: str, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    with dep.http() as c:
        while time.monotonic() < deadline:
            found = c.get("/api/v1/journeys", params={"dataset_id": dataset_id}).json()
            if found:
                last = found[0]
                if last["state"] in {"completed", "failed"}:
                    return last
            time.sleep(0.5)
    raise AssertionError(f"journey stuck at {last.get('state')}: {last}\n{dep.log()}")


def test_seed_partners_take_bias_automl_and_xai(
    core_only: Deployment, kafka_bootstrap: str
) -> None:
    dep = core_only
    partners = [
        Partner(name, topic, handle, kafka_bootstrap, dep.url, dep.token, dep.user_id)
        for name, topic, handle in [
            ("bias-detector", "bias-trigger-events", bias_detector),
            ("automl-consumer", "automl-trigger-events", automl_trainer),
            ("xai-consumer", "xai-trigger-events", xai_explainer),
        ]
    ]
    stop = threading.Event()
    threads = [threading.Thread(target=p.run, args=(stop,), daemon=True) for p in partners]
    for t in threads:
        t.start()
    dataset_id = f"diabetes{uuid.uuid4().hex[:6]}"
    try:
        _upload(dep, dataset_id)
        journey = _journey(dep, dataset_id)
        with dep.http() as c:
            seed_get = c.get(f"/datasets/{dep.user_id}/{dataset_id}").json()
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    bias, automl, xai = partners
    assert journey["state"] == "completed", (journey, [p.errors for p in partners], dep.log())
    assert [p.errors for p in partners] == [[], [], []]

    # Each partner acted once, on what the seed's core would have sent it.
    (trigger,) = bias.seen
    assert trigger["metadata"] == seed_get  # the dataset's GET body, as the seed sent it
    assert trigger["record_count"] == 442
    (train,) = automl.seen
    assert train["time_budget"] == "0.5"
    (explain,) = xai.seen
    assert explain["level"] == "expert"

    # The journey ran on what the partners posted, matched without any journey id.
    (report,) = bias.done
    (model,) = automl.done
    steps = journey["steps"]
    assert steps["bias"]["outputs"]["bias_report_id"] == report["id"]
    assert steps["automl"]["outputs"]["model_id"] == model["model_id"] == explain["model_id"]
    assert set(steps["xai"]["outputs"]["reports"]) == {
        "model_explanation/expert",
        "data_explanation/expert",
    }
    assert {r["report_type"] for r in xai.done} == {"model_explanation", "data_explanation"}


def test_millrace_up_fails_a_step_no_partner_takes(tmp_path: Path) -> None:
    """The core's clock runs in ``millrace up``: nobody trains, the journey says so."""
    env = {
        "MILLRACE_AGENTS": "core,bias",
        "MILLRACE_PARTNER_STEP_TIMEOUT_S": "2",
        "MILLRACE_PARTNER_SWEEP_INTERVAL_S": "0.5",
    }
    with _up(tmp_path, env) as dep:
        _upload(dep, "lonely")
        journey = _journey(dep, "lonely", timeout=120)
    assert journey["state"] == "failed" and journey["failed_step"] == "automl", journey
    assert journey["steps"]["bias"]["state"] == "done"  # Millrace's own bias agent ran
    assert "the automl step was left to a partner agent" in journey["reason"]
    assert "MILLRACE_AGENTS='core,bias'" in journey["reason"]
