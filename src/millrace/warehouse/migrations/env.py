"""Alembic environment: runs on the connection Millrace hands it (see ``db.migrate``).

For ``alembic revision --autogenerate`` from a shell, it falls back to the database of the
current ``Settings``, so migrations and the app never disagree on where the DB is.
"""

from __future__ import annotations

from alembic import context

from millrace.warehouse.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    from millrace.settings import Settings
    from millrace.warehouse.db import create_db_engine

    engine = create_db_engine(Settings().resolved_database_url)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
