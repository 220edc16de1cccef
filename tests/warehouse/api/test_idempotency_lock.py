"""An idempotent POST waiting for SQLite's write lock does not freeze the API.

Another process's writer (here a plain ``sqlite3`` connection in ``BEGIN IMMEDIATE``) holds
the lock; the POST's key claim waits for it in a worker thread, and meanwhile ``/health``
(which only reads) answers at once. When the writer lets go, the POST completes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import millrace_cli
from tests.helpers import upload_csv
from tests.support import free_port, stop_pid, wait_http


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    env = {"MILLRACE_HOME": str(tmp_path)}
    made = millrace_cli(env, "users", "create", "ada", "--json")
    assert made.returncode == 0, made.stderr
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MILLRACE_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "millrace", "api", "--port", str(port)],
        env={**clean, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", proc)
        yield url, json.loads(made.stdout)["token"], tmp_path / "millrace.db"
    finally:
        stop_pid(proc.pid)


def test_health_answers_while_an_idempotent_post_waits_for_the_lock(
    api: tuple[str, str, Path],
) -> None:
    url, token, db = api
    answers: list[httpx.Response] = []

    def post() -> None:
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=auth, timeout=60) as http:
            answers.append(upload_csv(http, "ada", "locked", headers={"Idempotency-Key": "k-lock"}))

    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    poster = threading.Thread(target=post)
    try:
        poster.start()
        time.sleep(0.5)  # the POST is in, waiting for the lock
        started = time.perf_counter()
        health = httpx.get(f"{url}/health", timeout=10)
        elapsed = time.perf_counter() - started
        assert health.status_code == 200, health.text
        assert elapsed < 1.0, f"/health took {elapsed:.2f}s behind a waiting POST"
        assert poster.is_alive() and not answers  # it really was waiting
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    poster.join(timeout=60)
    assert [a.status_code for a in answers] == [201]
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http:
        again = upload_csv(http, "ada", "locked", headers={"Idempotency-Key": "k-lock"})
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == answers[0].json()
