"""``/health`` checks each backend for real and says which one is down."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx

from millrace.warehouse.context import Warehouse
from tests.conftest import (
    PG_ADMIN_URL,
    S3_CREDENTIALS,
    create_pg_database,
    drop_pg_database,
    millrace_cli,
)
from tests.support import free_port, stop_pid, wait_http


def _serve(env: dict[str, str], home: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "millrace", "api", "--port", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=home,
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/docs", proc)
    return proc, url


def test_api_starts_with_no_configuration_at_all(tmp_path: Path) -> None:
    """In an empty folder with no MILLRACE_* variables, data lands in ./.millrace."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILLRACE_")}
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "millrace", "api", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc)
        assert httpx.get(f"http://127.0.0.1:{port}/health").json()["status"] == "up"
        assert (tmp_path / ".millrace" / "millrace.db").is_file()
        assert (tmp_path / ".millrace" / "objects").is_dir()
    finally:
        stop_pid(proc.pid)


def test_storage_down_is_a_503_naming_storage(tmp_path: Path) -> None:
    port = free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "MILLRACE_HOME": str(tmp_path),
        **S3_CREDENTIALS,
        "MILLRACE_STORAGE_URL": "s3://health-check/x",
        "MILLRACE_S3_ENDPOINT_URL": endpoint,
    }
    wait_http(endpoint, moto)
    proc, url = _serve(env, tmp_path)
    try:
        assert httpx.get(f"{url}/health").status_code == 200
        stop_pid(moto.pid)
        r = httpx.get(f"{url}/health", timeout=60)
        assert r.status_code == 503
        assert r.json()["down"] == ["storage"]
        assert "S3" in r.json()["checks"]["storage"]["error"]
    finally:
        stop_pid(proc.pid)
        stop_pid(moto.pid)
    # With S3 still unreachable, start-up refuses in one clear line.
    failed = millrace_cli(env, "api", "--port", str(free_port()))
    assert failed.returncode == 1
    assert "S3 unreachable" in failed.stderr and "Traceback" not in failed.stderr


def test_event_bus_down_is_a_503_naming_it(tmp_path: Path) -> None:
    env = {
        "MILLRACE_HOME": str(tmp_path),
        "MILLRACE_EVENT_BUS": f"kafka://127.0.0.1:{free_port()}",
        "USE_KFP": "0",
    }
    proc, url = _serve(env, tmp_path)
    try:
        r = httpx.get(f"{url}/health", timeout=30)
        assert r.status_code == 503
        body = r.json()
        assert body["down"] == ["event_bus"]
        assert body["checks"]["database"]["status"] == "up"
        assert body["checks"]["storage"]["status"] == "up"
        assert body["checks"]["event_bus"]["error"]
    finally:
        stop_pid(proc.pid)


def test_database_down_is_a_503_naming_it(tmp_path: Path) -> None:
    name = create_pg_database()
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    proc, url = _serve(
        {"MILLRACE_HOME": str(tmp_path), "MILLRACE_DATABASE_URL": f"{base}/{name}"}, tmp_path
    )
    try:
        assert httpx.get(f"{url}/health").status_code == 200
        drop_pg_database(name)  # WITH (FORCE): the server's connections die with it
        r = httpx.get(f"{url}/health", timeout=60)
        assert r.status_code == 503
        assert r.json()["down"] == ["database", "event_bus"]  # the embedded log lives in the DB
        assert r.json()["checks"]["storage"]["status"] == "up"
    finally:
        stop_pid(proc.pid)
        drop_pg_database(name)


def test_a_dead_agent_is_a_503_naming_it(warehouse: Warehouse) -> None:
    """``millrace up`` runs the agents beside the API: a dead one must not hide behind 200."""
    from millrace.warehouse.api import create_app

    app = create_app(warehouse=warehouse)

    def health() -> httpx.Response:
        async def get() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                return await client.get("/health")

        return asyncio.run(get())

    assert health().status_code == 200
    record = warehouse.liveness.register("automl")
    record.start()
    assert health().json()["agents"]["automl"]["state"] == "running"
    record.die(RuntimeError("database disk image is malformed"))
    r = health()
    assert r.status_code == 503
    body = r.json()
    assert body["down"] == ["agent:automl"]
    assert "database disk image is malformed" in body["agents"]["automl"]["problem"]
