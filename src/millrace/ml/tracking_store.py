"""The embedded MLflow store (a SQLite file) is created whole or not at all.

MLflow builds a new SQLite store by running some forty Alembic migrations, which SQLite
does not run in one transaction. A process killed half-way (a worker SIGKILLed on its
first event, a Ctrl-C during ``millrace up``) left a store stuck at an intermediate
revision, and every later process then failed with "out-of-date database schema". So the
store is built under a temporary name and moved into place once complete, and processes
that start together wait on one file lock instead of migrating side by side.

A store that is complete but older than the installed MLflow (after ``pip install -U``)
is upgraded in place, after a backup copy, as ``mlflow db upgrade`` would be by hand.
Stores behind other URIs (a server, PostgreSQL) belong to whoever runs them: untouched.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["ensure_store", "sqlite_path"]

log = logging.getLogger(__name__)
_ready: set[str] = set()
_guard = threading.Lock()


def sqlite_path(tracking_uri: str) -> Path | None:
    """The file behind a SQLite URI; None for anything else, or an in-memory database."""
    path = tracking_uri.removeprefix("sqlite:///")
    if path == tracking_uri or path in ("", ":memory:") or "?" in path:
        return None
    return Path(path)


def ensure_store(tracking_uri: str) -> None:
    """Make a SQLite tracking store usable before MLflow opens it (once per process)."""
    db = sqlite_path(tracking_uri)
    if db is None or tracking_uri in _ready:
        return
    with _guard:
        if tracking_uri in _ready:
            return
        db.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock(db.with_name(db.name + ".lock")):
            if not db.exists():
                _create(db)
            else:
                _upgrade_if_old(db)
        _ready.add(tracking_uri)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released by the kernel if this process dies
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _create(db: Path) -> None:
    building = db.with_name(db.name + ".creating")
    building.unlink(missing_ok=True)  # a killed earlier attempt's leftovers
    _migrate(f"sqlite:///{building}")
    os.replace(building, db)
    log.info("created the MLflow store %s", db)


def _upgrade_if_old(db: Path) -> None:
    from mlflow.store.db import utils

    engine = utils.create_sqlalchemy_engine(f"sqlite:///{db}")
    try:
        current = utils._get_schema_version(engine)
    finally:
        engine.dispose()
    if current == utils._get_latest_schema_revision():  # MLflow's own _verify_schema test
        return
    backup = db.with_name(db.name + ".before-upgrade")
    shutil.copyfile(db, backup)
    log.warning("upgrading the MLflow store %s (a copy is kept at %s)", db, backup)
    _migrate(f"sqlite:///{db}")


def _migrate(uri: str) -> None:
    """What ``mlflow db upgrade`` does, on an engine closed afterwards so that no pooled
    connection outlives a rename. MLflow has no public function for it, only the CLI."""
    from mlflow.store.db import utils

    engine = utils.create_sqlalchemy_engine(uri)
    try:
        if utils._is_empty_database(engine):
            utils._initialize_tables(engine)
        else:
            utils._upgrade_db(engine)
    finally:
        engine.dispose()
