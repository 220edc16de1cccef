"""The embedded MLflow store survives a process killed while creating it, processes
starting together, and a store left behind by an older MLflow."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from mlflow.store.db import utils
from mlflow.tracking import MlflowClient

from millrace.ml import tracking_store
from millrace.ml.tracking_store import ensure_store, sqlite_path


def _usable(uri: str) -> None:
    engine = utils.create_sqlalchemy_engine(uri)
    try:
        utils._verify_schema(engine)  # raises on a half-built or old store
    finally:
        engine.dispose()
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    db = sqlite_path(uri)
    assert db is not None
    client.create_experiment("works", artifact_location=db.parent.as_uri())
    client.create_registered_model("works")


@pytest.fixture(autouse=True)
def _forget_ready_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracking_store, "_ready", set())


def test_a_kill_half_way_through_creation_leaves_no_broken_store(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    # The child SIGKILLs itself after MLflow's first migration: the moment that used to
    # leave a store every later process refused ("out-of-date database schema").
    child = textwrap.dedent(f"""
        import os, signal
        from mlflow.store.db import utils
        from millrace.ml.tracking_store import ensure_store, sqlite_path

        def upgrade_then_die(engine):
            os.kill(os.getpid(), signal.SIGKILL)

        utils._upgrade_db = upgrade_then_die
        ensure_store("sqlite:///{db}")
    """)
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert not db.exists()
    assert (tmp_path / "mlflow.db.creating").exists()  # the half-built one, set aside

    ensure_store(f"sqlite:///{db}")

    _usable(f"sqlite:///{db}")
    assert not (tmp_path / "mlflow.db.creating").exists()


def test_processes_starting_together_share_one_store(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code = f"from millrace.ml.tracking_store import ensure_store; ensure_store({uri!r})"
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE) for _ in range(3)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err.decode()
    _usable(uri)


def test_a_store_from_an_older_mlflow_is_upgraded_after_a_backup(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    config = utils._get_alembic_config(uri)
    revisions = list(ScriptDirectory.from_config(config).walk_revisions())
    older = revisions[len(revisions) // 2].revision  # the chain is walked head first
    engine = utils.create_sqlalchemy_engine(uri)
    try:
        utils.InitialBase.metadata.create_all(engine)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, older)
    finally:
        engine.dispose()
    with pytest.raises(Exception, match="out-of-date database schema"):
        _usable(uri)

    ensure_store(uri)

    _usable(uri)
    backup = tmp_path / "mlflow.db.before-upgrade"
    assert backup.exists()
    engine = utils.create_sqlalchemy_engine(f"sqlite:///{backup}")
    try:
        assert utils._get_schema_version(engine) == older  # the copy is the store as it was
    finally:
        engine.dispose()


def test_stores_behind_a_server_or_in_memory_are_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ensure_store("http://127.0.0.1:1")  # nothing listens there: nothing may be contacted
    ensure_store("sqlite:///:memory:")
    ensure_store("postgresql://127.0.0.1:1/mlflow")
    assert list(tmp_path.iterdir()) == []
