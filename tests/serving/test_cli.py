"""``millrace serve`` as a real process on the same data dir, stopped by PID."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx

from tests.serving.conftest import ServedWorld, patients, wait_ready
from tests.support import free_port, stop_pid


def test_millrace_serve_serves_the_champions(served: ServedWorld) -> None:
    port = free_port()
    log = (served.settings.home / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "millrace", "serve", "--port", str(port), "--poll", "0.5"],
        env={**os.environ, "MILLRACE_HOME": str(served.settings.home)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
        rows = patients().drop(columns=["high_risk"]).iloc[:5]
        r = httpx.post(
            f"{url}/api/v1/models/credit/predict",
            json=json.loads(rows.to_json(orient="records")),
            headers={"Authorization": f"Bearer {served.tokens['alice']}"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == served.credit.expected(rows)
    finally:
        stop_pid(proc.pid)
        log.close()
