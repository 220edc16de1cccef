"""Shared fixtures: each backend set-up, a live API server on it, and per-test users.

Every API test runs twice: on the embedded defaults (SQLite + a local folder) and on the
machine's PostgreSQL + an S3 server (moto, in its own process on a free loopback port).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text

from millrace.settings import Settings
from millrace.warehouse.context import Warehouse
from tests.support import free_port, stop_pid, wait_http

PG_ADMIN_URL = os.environ.get(
    "MILLRACE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BUCKET = "millrace-test"


@dataclass
class Backend:
    name: str
    env: dict[str, str]
    home: Path
    storage_root: Path | None = None  # local folder backends only
    s3_endpoint: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def settings(self) -> Settings:
        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        try:
            return Settings()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def engine(self) -> Engine:
        from millrace.warehouse.db import create_db_engine

        return create_db_engine(self.settings().resolved_database_url)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url, proc)
        yield url
    finally:
        stop_pid(proc.pid)


def create_pg_database() -> str:
    name = f"millrace_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name


def drop_pg_database(name: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


S3_CREDENTIALS = {"MILLRACE_S3_ACCESS_KEY_ID": "test", "MILLRACE_S3_SECRET_ACCESS_KEY": "test"}


@pytest.fixture(scope="session", params=["embedded", "postgres_s3"])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    home = tmp_path_factory.mktemp(f"home-{request.param}")
    if request.param == "embedded":
        yield Backend("embedded", {"MILLRACE_HOME": str(home)}, home, storage_root=home / "objects")
        return
    endpoint = request.getfixturevalue("moto_server")
    db = create_pg_database()
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    env = {
        "MILLRACE_HOME": str(home),
        "MILLRACE_DATABASE_URL": f"{base}/{db}",
        "MILLRACE_STORAGE_URL": f"s3://{BUCKET}/objects",
        "MILLRACE_S3_ENDPOINT_URL": endpoint,
        **S3_CREDENTIALS,
    }
    try:
        yield Backend("postgres_s3", env, home, s3_endpoint=endpoint)
    finally:
        drop_pg_database(db)


@dataclass
class LiveApi:
    url: str
    pid: int
    backend: Backend
    admin_token: str

    def client(self, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)

    def new_user(self, prefix: str = "u", admin: bool = False) -> tuple[str, str]:
        user_id = f"{prefix}{uuid.uuid4().hex[:8]}"
        with self.client(self.admin_token) as c:
            r = c.post("/api/v1/users", json={"user_id": user_id, "is_admin": admin})
            r.raise_for_status()
            return user_id, r.json()["token"]


def millrace_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "millrace", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextmanager
def millrace_up(home: Path, user_id: str, serve_port: int = 0) -> Iterator[tuple[str, str]]:
    """``millrace up`` (API and every agent; the inference server on ``serve_port``, off at
    0) in a fresh home on the embedded defaults, on a free port, stopped by PID. Yields the
    API's URL and a token for ``user_id``; the process log is ``home/up.log``."""
    env = {"MILLRACE_HOME": str(home)}
    made = millrace_cli(env, "users", "create", user_id, "--json")
    assert made.returncode == 0, made.stderr
    token = json.loads(made.stdout)["token"]
    port = free_port()
    log = (home / "up.log").open("wb")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MILLRACE_")}
    args = ["up", "--port", str(port), "--serve-port", str(serve_port)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "millrace", *args],
        env={**clean, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", proc)
        yield url, token
    finally:
        stop_pid(proc.pid)
        log.close()


@pytest.fixture(scope="session")
def live_api(backend: Backend) -> Iterator[LiveApi]:
    """``millrace api`` as a real process; an admin made with ``millrace users create``."""
    made = millrace_cli(backend.env, "users", "create", "admin", "--admin", "--json")
    assert made.returncode == 0, made.stderr
    token = json.loads(made.stdout)["token"]
    port = free_port()
    log = (backend.home / "api.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "millrace", "api", "--port", str(port)],
        env={**os.environ, **backend.env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", proc)
        yield LiveApi(url, proc.pid, backend, token)
    finally:
        stop_pid(proc.pid)
        log.close()


@dataclass
class UserClient:
    user_id: str
    token: str
    http: httpx.Client
    api: LiveApi


@pytest.fixture
def user(live_api: LiveApi) -> Iterator[UserClient]:
    """A fresh user per test, so tests never share state."""
    user_id, token = live_api.new_user()
    with live_api.client(token) as http:
        yield UserClient(user_id, token, http, live_api)


@pytest.fixture
def warehouse(backend: Backend) -> Iterator[Warehouse]:
    wh = Warehouse.open(backend.settings())
    try:
        yield wh
    finally:
        wh.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Tansu broker (Kafka protocol) for the whole session, stopped by PID."""
    from millrace.events.testing import tansu_broker

    with tansu_broker(tmp_path_factory.mktemp("tansu") / "tansu.log") as bootstrap:
        yield bootstrap
