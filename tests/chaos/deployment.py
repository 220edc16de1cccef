"""A Millrace deployment the chaos tests can kill, and what must hold after each kill.

Real ``millrace`` processes (the CLI, as users run it) in a fresh data dir on the embedded
defaults: SQLite, a local folder, the SQLite event log. Each process is the leader of its own
process group, so a SIGKILL takes it and everything it started at once, exactly as a power
cut or the OOM killer would. What survived a kill is read straight from the stores (the
warehouse's SQLite file, MLflow's SQLite file), with no Millrace process in between.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from sklearn.datasets import load_diabetes

from tests.support import free_port, stop_pid, wait_http

DATASET = "patients"
MODEL = f"{DATASET}-automl"
BUDGET_S = 3  # FLAML's search; a step is a few seconds on two cores
TARGET = "high_risk"

# The journey's states in order; a wait for a step is over once the journey reached or
# passed it.
ORDER: dict[str | None, int] = {
    None: 0,
    "needs_input": 0,
    "bias": 1,
    "automl": 2,
    "xai": 3,
    "completed": 4,
}
# The worker that does each step's work (the core moves the journey between steps).
STEP_WORKER: dict[str | None, str] = {
    None: "core",
    "needs_input": "core",
    "bias": "bias",
    "automl": "automl",
    "xai": "xai",
    "completed": "core",
}
UNREACHABLE = "<api down>"

# One journey leaves exactly these events: one per transition, one per agent result, and
# one per XAI report (four). A step run twice and announced twice would show here.
EXPECTED_EVENTS = {
    "dataset-events": 1,
    "bias-trigger-events": 1,
    "bias-events": 1,
    "automl-trigger-events": 1,
    "automl-events": 1,
    "xai-trigger-events": 1,
    "xai-events": 4,
}


def patients() -> pd.DataFrame:
    """scikit-learn's bundled diabetes study (442 rows); ``sex`` is the sensitive column and
    ``high_risk`` (progression above 140 a year later) the target."""
    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame[TARGET] = (frame.pop("target") > 140).astype(int)
    return frame


@dataclass
class Kill:
    """One SIGKILL: whom, what it was aimed at, and the journey state it left committed."""

    role: str
    aimed_at: str
    state: str | None
    at_s: float = 0.0  # since the deployment was made


@dataclass
class Registered:
    """A registered model in MLflow, as MLflow itself stores it."""

    name: str
    versions: list[str]
    aliases: dict[str, str]


@dataclass
class Deployment:
    home: Path
    user_id: str = "alice"
    env: dict[str, str] = field(default_factory=dict)
    token: str = ""
    api_port: int = field(default_factory=free_port)
    serve_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    kills: list[Kill] = field(default_factory=list)
    born: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("MILLRACE_")}
        self.env = {**clean, "MILLRACE_HOME": str(self.home)}
        made = subprocess.run(
            [sys.executable, "-m", "millrace", "users", "create", self.user_id, "--json"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert made.returncode == 0, made.stderr
        self.token = json.loads(made.stdout)["token"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def serve_url(self) -> str:
        return f"http://127.0.0.1:{self.serve_port}"

    # -- processes ---------------------------------------------------------------------

    def start(
        self, role: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """``millrace ARGS`` as the leader of a new process group; log in ``home/ROLE.log``."""
        with (self.home / f"{role}.log").open("ab") as log:
            log.write(f"\n===== start {' '.join(args)} {env or ''}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                [sys.executable, "-m", "millrace", *args],
                env={**self.env, **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[role] = proc
        return proc

    def start_up(self, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """``millrace up``: the API, every agent and the inference server in one process."""
        args = ["up", "--port", str(self.api_port), "--serve-port", str(self.serve_port)]
        return self.start("up", *args, env=env)

    def start_worker(self, name: str, env: dict[str, str] | None = None) -> None:
        self.start(name, "worker", name, env=env)

    def wait_api(self, role: str) -> None:
        wait_http(f"{self.url}/health", self.procs[role], timeout=180)

    def kill(self, role: str, aimed_at: str) -> Kill:
        """SIGKILL the role's whole process group; record the state the kill left."""
        proc = self.procs[role]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return self.record(role, aimed_at)

    def record(self, role: str, aimed_at: str) -> Kill:
        """Note a kill (ours or a crash point's) with the journey state it left."""
        kill = Kill(role, aimed_at, self.committed_state(), round(self.age(), 1))
        self.kills.append(kill)
        print(f"SIGKILL {kill}")  # shown with -s, and with a failure
        return kill

    def age(self) -> float:
        return time.monotonic() - self.born

    def reap(self, role: str) -> int:
        """A process that died by itself: collect it and anything left in its group."""
        proc = self.procs[role]
        code = proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return code

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                stop_pid(proc.pid, timeout=30)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # whatever it started

    def logs(self, tail: int = 4000) -> str:
        """The end of every process's log, without the access log of the test's polling."""
        parts = []
        for path in sorted(self.home.glob("*.log")):
            lines = path.read_text(errors="replace").splitlines()
            kept = "\n".join(line for line in lines if not line.startswith("INFO:     127."))
            parts.append(f"--- {path.name}\n{kept[-tail:]}")
        return "\n".join(parts)

    # -- the API -----------------------------------------------------------------------

    def http(self, base: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=base or self.url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=60,
        )

    def upload(self) -> None:
        """The diabetes study with a complete journey spec and a small time budget."""
        data = patients().to_csv(index=False).encode()
        with self.http() as c:
            r = c.post(
                f"/api/v1/datasets/upload/{self.user_id}",
                files={"file": (f"{DATASET}.csv", data, "text/csv")},
                data={
                    "dataset_id": DATASET,
                    "target_column": TARGET,
                    "task_type": "classification",
                    "sensitive_columns": "sex",
                    "time_budget_s": str(BUDGET_S),
                },
            )
        assert r.status_code == 201, r.text

    def journey(self) -> dict[str, Any] | None:
        """The journey as the API shows it; None if the API does not answer right now."""
        try:
            with self.http() as c:
                r = c.get("/api/v1/journeys", params={"dataset_id": DATASET}, timeout=5)
        except httpx.TransportError:
            return None
        if r.status_code != 200:
            return None
        found = r.json()
        return found[0] if found else {"state": None}

    def api_state(self) -> str | None:
        journey = self.journey()
        return UNREACHABLE if journey is None else journey["state"]

    def wait_until(
        self, target: str, timeout: float = 180, tick: Callable[[], None] | None = None
    ) -> dict[str, Any]:
        """Until the journey reached or passed ``target``; ``tick`` runs on every poll
        (it checks the processes, or restarts dead workers)."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            if tick is not None:
                tick()
            journey = self.journey()
            if journey is not None:
                last = journey
                state = journey["state"]
                assert state != "failed", f"journey failed: {journey}\n{self.logs()}"
                if ORDER.get(state, -1) >= ORDER[target]:
                    return journey
            time.sleep(0.05)
        raise AssertionError(f"journey never reached {target}; last {last}\n{self.logs()}")

    def predict(self, timeout: float = 90) -> dict[str, Any]:
        """Three patients through the inference server, once it serves the champion."""
        rows = patients().drop(columns=[TARGET]).head(3).to_dict(orient="records")
        deadline = time.monotonic() + timeout
        answer = "no answer"
        while time.monotonic() < deadline:
            try:
                with self.http(self.serve_url) as c:
                    r = c.post(f"/api/v1/models/{MODEL}/predict", json={"records": rows})
                if r.status_code == 200:
                    return dict(r.json())
                answer = f"{r.status_code} {r.text[:300]}"
            except httpx.TransportError as exc:
                answer = repr(exc)
            time.sleep(0.3)
        raise AssertionError(f"the inference server never answered: {answer}\n{self.logs()}")

    # -- the stores, read directly -------------------------------------------------------

    def _rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(self.home / "millrace.db", timeout=60)) as db:
            return db.execute(sql, params).fetchall()

    def committed_state(self) -> str | None:
        found = self._rows("SELECT state FROM journeys WHERE dataset_id = ?", DATASET)
        return str(found[0][0]) if found else None

    def outbox_counts(self) -> Counter[str]:
        return Counter(topic for (topic,) in self._rows("SELECT topic FROM outbox"))

    def dead_letters(self) -> list[tuple[Any, ...]]:
        return self._rows(
            "SELECT group_id, event_id FROM processed_events WHERE outcome != 'handled'"
        )

    def warehouse_model_versions(self) -> list[int]:
        return [
            int(v)
            for (v,) in self._rows(
                "SELECT v.version FROM asset_versions v JOIN assets a ON a.pk = v.asset_pk"
                " WHERE a.kind = 'model' AND a.asset_id = ? ORDER BY v.version",
                MODEL,
            )
        ]

    def mlflow_models(self) -> list[Registered]:
        """Every registered model in this data dir's MLflow (all of them are this user's)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MLflow's own import-time notices
            from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=f"sqlite:///{self.home.resolve() / 'mlflow.db'}")
        found = []
        for model in client.search_registered_models():
            versions = client.search_model_versions(f"name = '{model.name}'")
            found.append(
                Registered(
                    model.name,
                    sorted(str(v.version) for v in versions),
                    {k: str(v) for k, v in model.aliases.items()},
                )
            )
        return found


def check_completed_once(dep: Deployment, completed_at: str) -> None:
    """The journey completed once, with one model in both stores, served as the champion.

    Checked over HTTP while the deployment runs, then in the stores once it is stopped.
    """
    with dep.http() as c:
        journeys = c.get("/api/v1/journeys", params={"dataset_id": DATASET}).json()
        assert len(journeys) == 1, journeys
        journey = journeys[0]
        assert journey["state"] == "completed", (journey, dep.logs())
        assert journey["completed_at"] == completed_at, "the journey completed a second time"
        assert {s: journey["steps"][s]["state"] for s in ("bias", "automl", "xai")} == {
            "bias": "done",
            "automl": "done",
            "xai": "done",
        }
        assert len(journey["steps"]["xai"]["outputs"]["reports"]) == 4
        model = c.get(journey["links"]["model"])
        assert model.status_code == 200, model.text
        assert model.json()["versions"] == [1]
        registry = c.get(f"/api/v1/registry/models/{MODEL}")
        assert registry.status_code == 200, (registry.text, dep.logs())
        entry = registry.json()
        assert [v["version"] for v in entry["versions"]] == ["1"], entry
        assert entry["champion"] is not None, entry
        assert entry["champion"]["champion_version"] == "1", entry
    served = dep.predict()
    assert served["version"] == "1", served
    assert len(served["predictions"]) == 3, served
    assert set(served["predictions"]) <= {0, 1}, served

    dep.stop_all()
    counts = dep.outbox_counts()
    assert {t: counts.get(t, 0) for t in EXPECTED_EVENTS} == EXPECTED_EVENTS, counts
    assert not [t for t in counts if t.endswith(".dlq")], counts
    assert dep.dead_letters() == []
    assert dep.warehouse_model_versions() == [1]
    models = dep.mlflow_models()
    assert len(models) == 1, models
    assert models[0].versions == ["1"], models
    assert models[0].aliases == {"champion": "1"}, models
