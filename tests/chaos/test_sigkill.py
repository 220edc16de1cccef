"""SIGKILL Millrace anywhere in a journey: after a restart the journey completes exactly once.

What is proved, with the real CLI in real processes on the embedded defaults (SQLite, a
local folder, the SQLite event log), each time with the same check (``check_completed_once``):
the journey is ``completed`` with its first ``completed_at``, every transition and result
was announced exactly once (the outbox holds one event per step, four XAI reports, no dead
letter), the warehouse holds ONE version of the AutoML model, MLflow holds ONE registered
version of it carrying the ``champion`` alias, and the inference server answers with it.

- **Crash points** (``millrace.faults``): ``millrace up`` kills itself once exactly between
  two writes that cannot share a transaction (warehouse model / MLflow version / champion
  alias; a handler's work / its processed mark / the offset), then runs again.
- **Random kills of ``millrace up``**: the whole process group, at seeded random times in
  every step (bias, automl, xai), in the middle of start-up and after completion.
- **Random kills of separate processes**: ``millrace api``, ``millrace serve`` and one
  ``millrace worker`` per agent; a random worker (biased to the busy one) is killed at
  random times and restarted, and the runner's crash points are planted in the automl and
  xai workers so those land exactly inside a handler's commit window.

SIGKILLs per run: 4 crash points + 6 of ``millrace up`` + 9 random and 2 planted worker
kills = 21 (the issue asks for at least 20).
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.deployment import (
    STEP_WORKER,
    Deployment,
    check_completed_once,
)

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]

SEED = 15  # issue 15
WORKERS = ("core", "bias", "automl", "xai")


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    dep = Deployment(tmp_path / "home")
    try:
        yield dep
    finally:
        dep.stop_all()


def _alive(dep: Deployment, *roles: str) -> Callable[[], None]:
    def check() -> None:
        for role in roles:
            code = dep.procs[role].poll()
            assert code is None, f"{role} exited by itself with {code}\n{dep.logs()}"

    return check


# -- crash points --------------------------------------------------------------------------

# Where each point sits, and what a kill there leaves behind.
CRASH_POINTS = {
    # The warehouse model version is committed; MLflow knows nothing of it yet.
    "automl.after_upload": "automl",
    # The MLflow version exists; the champion alias is not set.
    "automl.after_mlflow_version": "automl",
    # A handler returned; its processed mark (and what it emitted) is not committed. In one
    # process the first handler to return is the core's, opening the journey; the separate
    # processes test below plants it in the automl worker.
    "runner.after_handle": "any",
    # The processed mark and the emitted events are committed; the offset is not.
    "runner.after_finish": "any",
}


@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_a_kill_at_a_crash_point_then_a_restart_completes_the_journey_once(
    deployment: Deployment, point: str
) -> None:
    crashed = deployment.home / "crashed"
    proc = deployment.start_up({"MILLRACE_CRASH_AT": point, "MILLRACE_CRASH_ONCE": str(crashed)})
    deployment.wait_api("up")
    deployment.upload()
    deadline = time.monotonic() + 180
    while proc.poll() is None:
        state = deployment.api_state()
        assert state != "completed", (
            f"crash point {point} was never reached: the journey completed without a crash "
            f"(no crash_point({point!r}) call in the product?)"
        )
        assert state != "failed", deployment.logs()
        assert time.monotonic() < deadline, f"no crash at {point}\n{deployment.logs()}"
        time.sleep(0.05)
    assert deployment.reap("up") == -signal.SIGKILL, deployment.logs()
    assert crashed.exists()
    deployment.record("up", point)

    # The kill landed in the gap it names.
    versions = [v for m in deployment.mlflow_models() for v in m.versions]
    if point == "automl.after_upload":
        assert deployment.warehouse_model_versions() == [1]
        assert versions == []
    elif point == "automl.after_mlflow_version":
        assert deployment.warehouse_model_versions() == [1]
        assert versions == ["1"]
        assert all("champion" not in m.aliases for m in deployment.mlflow_models())

    deployment.start_up()
    deployment.wait_api("up")
    journey = deployment.wait_until("completed", tick=_alive(deployment, "up"))
    check_completed_once(deployment, journey["completed_at"])


# -- random kills of millrace up -----------------------------------------------------------

# (aimed at, earliest, latest): kill this many seconds after the step started in this
# process (its ``started_at``, or the moment the API answered when the step was already
# under way: a restart runs it again from there). "bias": after the upload returned.
# "startup": after the process was spawned, without waiting for it (imports, migrations,
# the MLflow warm-up, agents starting and picking up redelivered events).
UP_PLAN = (
    ("bias", 0.0, 0.3),
    ("automl", 0.0, 2.0),  # FLAML searching (the budget is 3 s)
    ("automl", 2.0, 3.5),  # the end of the search, the upload, the MLflow registration
    ("xai", 0.0, 0.8),  # SHAP and the four reports take about 1.5 s
    ("startup", 1.0, 8.0),
    ("completed", 0.0, 1.0),  # a restart after completion must change nothing
)


def _step_reference(journey: dict[str, Any], step: str, api_up: float) -> float:
    """When ``step`` started in this process, on the wall clock."""
    started = journey["steps"].get(step, {}).get("started_at")
    return max(datetime.fromisoformat(started).timestamp(), api_up) if started else api_up


def test_random_sigkills_of_millrace_up_across_every_step(deployment: Deployment) -> None:
    rng = random.Random(SEED)
    completed_at: str | None = None
    for i, (aim, earliest, latest) in enumerate(UP_PLAN):
        proc = deployment.start_up()
        reference = time.time()
        if aim != "startup":
            deployment.wait_api("up")
            reference = time.time()
            if i == 0:
                deployment.upload()
                reference = time.time()
            else:
                journey = deployment.wait_until(aim, tick=_alive(deployment, "up"))
                completed_at = completed_at or journey["completed_at"]
                reference = _step_reference(journey, aim, reference)
        time.sleep(max(0.0, reference + rng.uniform(earliest, latest) - time.time()))
        assert proc.poll() is None, f"millrace up exited with {proc.returncode}"
        deployment.kill("up", aim)
    assert len(deployment.kills) == len(UP_PLAN)
    states = {k.state for k in deployment.kills}
    assert states & {None, "bias"}, deployment.kills  # before the bias step was done
    assert {"automl", "xai"} <= states, deployment.kills

    deployment.start_up()
    deployment.wait_api("up")
    journey = deployment.wait_until("completed", tick=_alive(deployment, "up"))
    check_completed_once(deployment, completed_at or journey["completed_at"])


# -- random kills of separate processes ----------------------------------------------------

# (aimed at, earliest, latest), as for millrace up; each kill takes one worker.
WORKER_PLAN = (
    ("bias", 0.0, 0.3),
    ("automl", 0.0, 2.0),
    ("automl", 1.0, 5.0),
    ("automl", 2.0, 6.0),
    ("xai", 0.0, 1.0),
    ("xai", 0.0, 1.0),
    ("xai", 0.0, 1.5),
    ("completed", 0.0, 1.0),
    ("completed", 0.0, 1.0),
)
# Crash points planted in one worker each: they fire inside that agent's commit window.
PLANTED = {"automl": "runner.after_handle", "xai": "runner.after_finish"}


def test_random_sigkills_of_separate_worker_processes(deployment: Deployment) -> None:
    rng = random.Random(SEED + 1)
    home = deployment.home

    def start_worker(name: str) -> None:
        point = PLANTED.get(name)
        # The planted point stays armed across restarts until it fired once.
        env = (
            {"MILLRACE_CRASH_AT": point, "MILLRACE_CRASH_ONCE": str(home / f"crashed-{name}")}
            if point
            else None
        )
        deployment.start_worker(name, env)

    def supervise() -> None:
        """Restart a worker that killed itself at its planted crash point."""
        _alive(deployment, "api", "serve")()
        for name in WORKERS:
            if deployment.procs[name].poll() is not None:
                code = deployment.reap(name)
                assert code == -signal.SIGKILL and name in PLANTED, (
                    f"worker {name} exited by itself with {code}\n{deployment.logs()}"
                )
                deployment.record(name, PLANTED[name])
                start_worker(name)

    deployment.start("api", "api", "--port", str(deployment.api_port))
    deployment.start("serve", "serve", "--port", str(deployment.serve_port))
    for name in WORKERS:
        start_worker(name)
    deployment.wait_api("api")
    deployment.upload()
    completed_at: str | None = None
    for aim, earliest, latest in WORKER_PLAN:
        if aim != "bias":
            journey = deployment.wait_until(aim, tick=supervise)
            if journey["state"] == "completed":
                completed_at = completed_at or journey["completed_at"]
        time.sleep(rng.uniform(earliest, latest))
        supervise()
        state = deployment.api_state()
        busy = STEP_WORKER.get(state, "core")
        victim = busy if rng.random() < 0.5 else rng.choice(WORKERS)
        deployment.kill(victim, aim)
        start_worker(victim)
    ours = [k for k in deployment.kills if k.aimed_at not in PLANTED.values()]
    assert len(ours) == len(WORKER_PLAN)
    assert {"automl", "xai"} <= {k.state for k in ours}, deployment.kills

    journey = deployment.wait_until("completed", tick=supervise)
    supervise()
    fired = {name for name in PLANTED if (home / f"crashed-{name}").exists()}
    assert fired == set(PLANTED), f"planted crash points that fired: {fired}; {deployment.kills}"
    check_completed_once(deployment, completed_at or journey["completed_at"])
