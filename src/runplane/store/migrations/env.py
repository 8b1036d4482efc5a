"""Alembic environment: runs migrations on a synchronous connection to the target database."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

from runplane.store.database import sync_url
from runplane.store.tables import metadata

# An arbitrary constant: the advisory lock that keeps two processes from migrating at once.
PG_MIGRATION_LOCK = 7_215_003_001


def run_migrations() -> None:
    url = context.config.attributes["database_url"]
    engine = create_engine(sync_url(url))
    with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": PG_MIGRATION_LOCK})
            connection.commit()
        else:
            connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        try:
            context.configure(
                connection=connection,
                target_metadata=metadata,
                render_as_batch=not postgres,
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            if postgres:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_MIGRATION_LOCK})
                connection.commit()
    engine.dispose()


run_migrations()
