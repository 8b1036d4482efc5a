"""The alembic migrations build exactly the schema the code declares, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from runplane.store.database import sync_url
from runplane.store.migrate import current_head, upgrade
from runplane.store.tables import metadata


def test_migrated_schema_matches_the_declared_tables(database_url: str) -> None:
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": False})
            assert compare_metadata(context, metadata) == []
            assert context.get_current_revision() == current_head()
    finally:
        engine.dispose()


def test_upgrading_twice_is_harmless(database_url: str) -> None:
    upgrade(database_url)
    engine = create_engine(sync_url(database_url))
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"instances", "api_keys", "scripts", "runs", "tasks", "script_endpoints"} <= tables
