"""Transactions: writers take SQLite's lock up front, readers never wait for it.

The lock holder is a plain ``sqlite3`` connection in ``BEGIN IMMEDIATE``, as another
process's writer would be; the engine's own connections get a 200 ms busy timeout so a
transaction that does wait fails fast instead of hanging the test for a minute.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from millrace.warehouse.db import create_db_engine, migrate, ping, read_scope, session_scope
from millrace.warehouse.models import User
from tests.conftest import PG_ADMIN_URL, create_pg_database, drop_pg_database


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[tuple[Path, Engine]]:
    path = tmp_path / "millrace.db"
    engine = create_db_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _short_wait(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=200")

    migrate(engine)
    with session_scope(sessionmaker(engine)) as session:
        session.add(User(id="ada"))
    yield path, engine
    engine.dispose()


def _hold_write_lock(path: Path) -> sqlite3.Connection:
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO users (id, is_admin, created_at) VALUES ('bob', 0, '2024-01-01')")
    return holder


def test_a_reader_is_not_blocked_by_a_writer(sqlite_db: tuple[Path, Engine]) -> None:
    path, engine = sqlite_db
    sessions = sessionmaker(engine)
    holder = _hold_write_lock(path)
    try:
        started = time.perf_counter()
        with read_scope(sessions) as session:
            ids = session.scalars(select(User.id)).all()
        ping(engine)
        assert time.perf_counter() - started < 1.0
        assert ids == ["ada"]  # the snapshot before the writer's uncommitted row
        # The lock is really held: a writer on the engine waits out its timeout and fails.
        with pytest.raises(OperationalError, match="locked"), session_scope(sessions) as s:
            s.add(User(id="carl"))
    finally:
        holder.execute("COMMIT")
        holder.close()
    with read_scope(sessions) as session:
        assert sorted(session.scalars(select(User.id))) == ["ada", "bob"]


def test_writing_in_a_read_scope_fails_and_the_connection_writes_again(
    sqlite_db: tuple[Path, Engine],
) -> None:
    _, engine = sqlite_db
    engine.pool.dispose()  # so the next three scopes share one pooled connection
    sessions = sessionmaker(engine)
    with pytest.raises(OperationalError, match="readonly"), read_scope(sessions) as session:
        session.add(User(id="eve"))
    with session_scope(sessions) as session:
        session.add(User(id="eve"))
    with read_scope(sessions) as session:
        assert session.scalar(select(func.count()).select_from(User)) == 2


def test_read_scope_objects_stay_readable_after_it_closes(
    sqlite_db: tuple[Path, Engine],
) -> None:
    _, engine = sqlite_db
    with read_scope(sessionmaker(engine, expire_on_commit=False)) as session:
        user = session.get(User, "ada")
    assert user is not None and user.id == "ada" and user.is_admin is False


def test_concurrent_readers_and_writers_all_finish(sqlite_db: tuple[Path, Engine]) -> None:
    """Writers queue on the lock (the default minute-long wait), readers run beside them;
    nobody sees SQLITE_BUSY."""
    path, _ = sqlite_db
    engine = create_db_engine(f"sqlite:///{path}")
    sessions = sessionmaker(engine)
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            for j in range(10):
                with session_scope(sessions) as s:
                    s.add(User(id=f"w{i}-{j}"))
        except BaseException as exc:
            errors.append(exc)

    def read() -> None:
        try:
            for _ in range(30):
                with read_scope(sessions) as s:
                    s.scalar(select(func.count()).select_from(User))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    threads += [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    engine.dispose()
    assert errors == []
    with read_scope(sessionmaker(sqlite_db[1])) as s:
        assert s.scalar(select(func.count()).select_from(User)) == 1 + 40


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    name = create_pg_database()
    engine = create_db_engine(f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}")
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()
        drop_pg_database(name)


def test_postgres_read_scope_is_a_read_only_transaction(pg_engine: Engine) -> None:
    sessions: sessionmaker[Session] = sessionmaker(pg_engine)
    with pytest.raises(DBAPIError, match="read-only transaction"), read_scope(sessions) as s:
        s.add(User(id="eve"))
    with session_scope(sessions) as s:  # the pool reset the connection: writes work again
        s.add(User(id="eve"))
    with read_scope(sessions) as s:
        assert s.scalars(select(User.id)).all() == ["eve"]
        assert s.execute(text("SHOW transaction_read_only")).scalar() == "on"
    ping(pg_engine)
