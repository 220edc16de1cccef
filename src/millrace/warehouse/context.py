"""Everything a warehouse service needs, built once per process and passed down."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from millrace.events.liveness import LivenessBoard
from millrace.settings import Settings
from millrace.warehouse.db import create_db_engine, migrate
from millrace.warehouse.storage import ObjectStorage, open_storage

__all__ = ["Warehouse"]


@dataclass
class Warehouse:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    storage: ObjectStorage
    # The consumer loops this process runs (``millrace up``), for /health.
    liveness: LivenessBoard = field(default_factory=LivenessBoard)

    @classmethod
    def open(cls, settings: Settings, *, run_migrations: bool = True) -> Warehouse:
        settings.ensure_home()
        engine = create_db_engine(settings.resolved_database_url)
        if run_migrations:
            migrate(engine)
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessionmaker(engine, expire_on_commit=False),
            storage=open_storage(settings),
        )

    def close(self) -> None:
        self.engine.dispose()
