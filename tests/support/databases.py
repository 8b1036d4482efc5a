"""Test databases: a SQLite file per test, or a fresh PostgreSQL database per test.

PostgreSQL databases are copied from a migrated template (fast: no migration per test).
Where PostgreSQL is unreachable the PostgreSQL half of the suite is skipped, except in CI
(CI=true), where it fails: CI must prove both databases.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg
import pytest

from runplane.store.migrate import upgrade

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
ENABLE_HINT = (
    "PostgreSQL tests skipped: no server at {url} ({error}). Start PostgreSQL 15 with trust "
    "auth for user postgres, or set RUNPLANE_TEST_POSTGRES_URL to a database the tests may "
    "use to create and drop databases."
)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def admin_url() -> str:
    return os.environ.get("RUNPLANE_TEST_POSTGRES_URL", DEFAULT_ADMIN_URL)


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def _admin(sql: str) -> None:
    with psycopg.connect(admin_url(), autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


class PostgresTemplates:
    """One migrated template per test process; databases for tests are copies of it."""

    def __init__(self) -> None:
        self.template: str | None = None
        self.unavailable: str | None = None

    def ensure_template(self) -> str:
        if self.template is not None:
            return self.template
        if self.unavailable is not None:
            self._give_up(self.unavailable)
        name = f"rp_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        try:
            _admin(f'CREATE DATABASE "{name}"')
        except psycopg.OperationalError as error:
            self.unavailable = str(error).strip().splitlines()[0]
            self._give_up(self.unavailable)
        upgrade(_with_database(admin_url(), name))
        self.template = name
        return name

    def _give_up(self, error: str) -> None:
        message = ENABLE_HINT.format(url=admin_url(), error=error)
        if in_ci():
            pytest.fail(message.replace("skipped", "FAILED in CI"), pytrace=False)
        pytest.skip(message)

    def new_database(self) -> tuple[str, str]:
        template = self.ensure_template()
        name = f"rp_{uuid.uuid4().hex[:12]}"
        _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name, _with_database(admin_url(), name)

    @staticmethod
    def drop(name: str) -> None:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        if self.template is not None:
            self.drop(self.template)
            self.template = None


def sqlite_url(directory: Path) -> str:
    path = directory / "runplane-test.db"
    upgrade(f"sqlite:///{path}")
    return f"sqlite:///{path}"
