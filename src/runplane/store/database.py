"""Engines per dialect, transactions, and driver errors translated at the boundary.

SQLite runs in WAL mode with a busy timeout; write transactions start with BEGIN IMMEDIATE so
two writers queue on the lock instead of failing on upgrade. PostgreSQL uses psycopg 3.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from runplane.errors import StoreUnavailable

SQLITE_BUSY_TIMEOUT_MS = 30_000
_WRITE = "runplane_write"


def parse_database_url(url: str) -> URL:
    """Accept sqlite:///file, postgres://, postgresql:// and driver-qualified forms."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")
    return parsed


def async_url(url: str) -> URL:
    parsed = parse_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    return parsed.set(drivername="postgresql+psycopg")


def sync_url(url: str) -> URL:
    parsed = parse_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite")
    return parsed.set(drivername="postgresql+psycopg")


def _prepare_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us emit BEGIN ourselves (the driver's implicit BEGIN is always DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Any) -> None:
        writing = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


class Database:
    """One database: a pool of connections, and read / write transactions on it."""

    def __init__(self, url: str, *, pool_size: int = 10, pooled: bool = True) -> None:
        self.url = url
        target = async_url(url)
        self.dialect = target.get_backend_name()
        if self.dialect == "sqlite" and target.database in (None, "", ":memory:"):
            raise ValueError("an in-memory SQLite database cannot be shared; use a file")
        options: dict[str, Any] = {"poolclass": NullPool}
        if pooled:
            options = {"pool_size": pool_size, "max_overflow": pool_size}
        if self.dialect == "postgresql":
            options["pool_pre_ping"] = pooled
        self.engine = create_async_engine(target, **options)
        if self.dialect == "sqlite":
            _prepare_sqlite(self.engine)
        self._writer = self.engine.execution_options(**{_WRITE: True})

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that will write: serialised on SQLite, committed on exit."""
        async with _translated("write"), self._writer.begin() as connection:
            yield connection

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction (a consistent snapshot on both dialects)."""
        async with _translated("read"), self.engine.connect() as connection:
            yield connection

    async def close(self) -> None:
        await self.engine.dispose()


@asynccontextmanager
async def _translated(what: str) -> AsyncIterator[None]:
    """Driver errors about the database itself become StoreUnavailable; others pass."""
    try:
        yield
    except (exc.OperationalError, exc.InterfaceError) as error:
        raise StoreUnavailable(f"the database refused the {what}: {error.orig}") from error
