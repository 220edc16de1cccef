"""The journey as users run it: real processes, over HTTP, on the embedded bus and on Kafka.

- embedded: ``millrace up`` (API and every agent in one process);
- Kafka (a real Tansu broker): ``millrace api``, ``worker relay`` and each agent in a
  process of its own;
- crash: the automl worker is SIGKILLed in the middle of training and restarted; the
  journey still completes exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.agents.world import diabetes_frame
from tests.conftest import millrace_cli
from tests.support import free_port, stop_pid, wait_http

pytestmark = pytest.mark.slow
BUDGET = 8


@dataclass
class Stack:
    home: Path
    env: dict[str, str]
    url: str = ""
    token: str = ""
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.home / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "millrace", *args],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs[name] = proc
        return proc

    def stop_all(self) -> None:
        for proc in self.procs.values():
            stop_pid(proc.pid)

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, timeout=60, headers={"Authorization": f"Bearer {self.token}"}
        )

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in self.home.glob("*.log"))


def _stack(tmp_path: Path, env: dict[str, str]) -> Stack:
    stack = Stack(tmp_path, {"MILLRACE_HOME": str(tmp_path), **env})
    made = millrace_cli(stack.env, "users", "create", "alice", "--json")
    assert made.returncode == 0, made.stderr
    stack.token = json.loads(made.stdout)["token"]
    return stack


def _upload(stack: Stack) -> str:
    data = diabetes_frame().to_csv(index=False).encode()
    with stack.http() as c:
        r = c.post(
            "/api/v1/datasets/upload/alice",
            files={"file": ("diabetes.csv", data)},
            data={
                "dataset_id": "diabetes",
                "target_column": "high_risk",
                "sensitive_columns": "sex",
                "time_budget_s": str(BUDGET),
            },
        )
        assert r.status_code == 201, r.text
    return "diabetes"


def _wait_state(
    stack: Stack, dataset_id: str, states: set[str], timeout: float = 240
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    last: dict[str, object] = {}
    with stack.http() as c:
        while time.monotonic() < deadline:
            found = c.get("/api/v1/journeys", params={"dataset_id": dataset_id}).json()
            if found:
                last = found[0]
                if last["state"] in states:
                    return last
            time.sleep(0.5)
    raise AssertionError(f"journey stuck at {last.get('state')}: {last}\n{stack.logs()}")


def _check_completed(stack: Stack, journey: dict[str, object]) -> None:
    assert journey["state"] == "completed", (journey, stack.logs())
    links = journey["links"]
    assert isinstance(links, dict)
    with stack.http() as c:
        bias = c.get(links["bias_report_view"])
        assert bias.status_code == 200
        assert "Fairness" in bias.text
        model = c.get(links["model"]).json()
        assert model["versions"] == [1]
        assert {f["path"] for f in model["version"]["files"]} >= {"model.skops", "encoder.json"}
        views = [v for k, v in links.items() if k.startswith("xai/")]
        assert len(views) == 4
        for view in views:
            page = c.get(view)
            assert page.status_code == 200
            assert page.text.startswith("<!doctype html>")
        xai = c.get("/api/v1/xai-reports", params={"dataset_id": "diabetes"}).json()
        assert len(xai["items"]) == 4


@pytest.fixture
def embedded_stack(tmp_path: Path) -> Iterator[Stack]:
    stack = _stack(tmp_path, {})
    port = free_port()
    stack.url = f"http://127.0.0.1:{port}"
    proc = stack.start("up", "up", "--port", str(port))
    try:
        wait_http(f"{stack.url}/health", proc)
        yield stack
    finally:
        stack.stop_all()


def test_journey_on_the_embedded_bus_with_millrace_up(embedded_stack: Stack) -> None:
    journey = _wait_state(embedded_stack, _upload(embedded_stack), {"completed", "failed"})
    _check_completed(embedded_stack, journey)


@pytest.fixture
def kafka_stack(tmp_path: Path, kafka_bootstrap: str) -> Iterator[Stack]:
    stack = _stack(tmp_path, {"MILLRACE_EVENT_BUS": f"kafka://{kafka_bootstrap}", "USE_KFP": "0"})
    port = free_port()
    stack.url = f"http://127.0.0.1:{port}"
    api = stack.start("api", "api", "--port", str(port))
    for name in ("relay", "core", "bias", "automl", "xai"):
        stack.start(name, "worker", name)
    try:
        wait_http(f"{stack.url}/health", api)
        yield stack
    finally:
        stack.stop_all()


def test_journey_on_kafka_with_a_process_per_agent(kafka_stack: Stack) -> None:
    with kafka_stack.http() as c:
        assert c.get("/health").json()["checks"]["event_bus"]["status"] == "up"
    journey = _wait_state(kafka_stack, _upload(kafka_stack), {"completed", "failed"})
    _check_completed(kafka_stack, journey)


@pytest.fixture
def split_stack(tmp_path: Path) -> Iterator[Stack]:
    """Embedded bus, but the API and each agent in its own process (so one can die)."""
    stack = _stack(tmp_path, {})
    port = free_port()
    stack.url = f"http://127.0.0.1:{port}"
    api = stack.start("api", "api", "--port", str(port))
    for name in ("core", "bias", "automl", "xai"):
        stack.start(name, "worker", name)
    try:
        wait_http(f"{stack.url}/health", api)
        yield stack
    finally:
        stack.stop_all()


def test_sigkill_in_the_middle_of_training_still_completes_once(split_stack: Stack) -> None:
    dataset_id = _upload(split_stack)
    _wait_state(split_stack, dataset_id, {"automl"})
    time.sleep(BUDGET * 0.3)  # FLAML is searching now
    victim = split_stack.procs["automl"]
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    split_stack.start("automl", "worker", "automl")
    journey = _wait_state(split_stack, dataset_id, {"completed", "failed"})
    _check_completed(split_stack, journey)  # one model version, four reports
    with split_stack.http() as c:
        again = c.get(f"/api/v1/journeys/{journey['id']}").json()
    assert again["completed_at"] == journey["completed_at"]
