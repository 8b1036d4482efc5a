"""Bring a database's schema up to date with alembic, programmatically (no alembic.ini), and
make what every database holds: the instance `default`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from runplane.clock import utcnow
from runplane.model import DEFAULT_INSTANCE, DEFAULT_INSTANCE_DESCRIPTION
from runplane.store.database import create_private_file, sync_url
from runplane.store.instances import insert_instance_if_absent

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """The schema alone (tests and benchmarks start from an empty database)."""
    create_private_file(database_url)
    command.upgrade(alembic_config(database_url), revision)


def migrate(database_url: str) -> None:
    """The schema up to date, and the instance `default`, made if absent (idempotent, safe
    for processes migrating at once): what `runplane migrate` and every start do."""
    upgrade(database_url)
    ensure_default_instance(database_url)


def ensure_default_instance(database_url: str) -> bool:
    """Make the instance `default` unless it exists; True if this call made it."""
    engine = create_engine(sync_url(database_url))
    try:
        with engine.begin() as conn:
            return insert_instance_if_absent(
                conn, name=DEFAULT_INSTANCE, description=DEFAULT_INSTANCE_DESCRIPTION,
                now=utcnow(),
            )
    finally:
        engine.dispose()


def current_head() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite:///unused.db")).get_current_head()
    assert head is not None
    return head
