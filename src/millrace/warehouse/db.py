"""Engine, sessions and migrations for SQLite and PostgreSQL.

SQLite needs two things to survive concurrent writers: WAL (readers do not block the
writer) and ``BEGIN IMMEDIATE`` (a transaction takes the write lock up front, so two
writers queue on ``busy_timeout`` instead of deadlocking when both upgrade a read lock;
in WAL mode a failed upgrade raises SQLITE_BUSY at once, without waiting).

Taking the write lock for reads too would make every poll and GET queue behind the
slowest writer, so ``read_scope`` begins a deferred transaction instead: it reads a
snapshot beside a writer. It is also marked read-only (``PRAGMA query_only`` on SQLite,
a ``READ ONLY`` transaction on PostgreSQL), so a write slipped into it fails every time
rather than only when it happens to race a writer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "READ_ONLY",
    "create_db_engine",
    "migrate",
    "ping",
    "read_only_options",
    "read_scope",
    "session_scope",
]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# Connection execution option the SQLite "begin" hook reads: true means a deferred BEGIN.
READ_ONLY = "millrace_read_only"


def create_db_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})
        _tune_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite would defer it).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        read_only = bool(conn.get_execution_options().get(READ_ONLY, False))
        # ``conn.info`` lives as long as the DBAPI connection: the pragma is only sent
        # when a pooled connection switches between reading and writing.
        if conn.info.get("query_only", False) != read_only:
            conn.exec_driver_sql(f"PRAGMA query_only={int(read_only)}")
            conn.info["query_only"] = read_only
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def read_only_options(bind: Engine | Connection) -> dict[str, Any]:
    """Execution options for a connection that only reads (see the module docstring)."""
    options: dict[str, Any] = {READ_ONLY: True}
    if bind.dialect.name == "postgresql":
        options["postgresql_readonly"] = True  # reset by the pool on check-in
    return options


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision; safe to call on every start."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def ping(engine: Engine) -> None:
    """A health check must answer while a writer holds the lock, so it only reads."""
    with engine.connect() as conn:
        conn.execution_options(**read_only_options(engine))
        conn.execute(text("SELECT 1"))


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def read_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work that only reads: it does not wait for writers, nor they for it.

    Writing in it raises. It ends with a commit, not a rollback, so loaded objects keep
    their state after the session closes (a rollback would expire them).
    """
    with session_scope(factory) as session:
        session.connection(execution_options=read_only_options(session.get_bind()))
        yield session
