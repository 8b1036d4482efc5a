"""A database look-alike over one open transaction: a batch job and its answer, atomically.

A batch job that only changes the store (create a device, update a script...) runs with this
in place of the core's database: every `write()` and `read()` of the core happens in the
driver's transaction. The driver then records the job's
answer in the same transaction and commits once, so a crash either keeps both the change and
its answer, or neither: the job is never done twice, and costs one commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncConnection

from runplane.errors import StoreUnavailable
from runplane.store.database import Database


class JoinedDatabase:
    def __init__(self, conn: AsyncConnection, database: Database) -> None:
        self._conn = conn
        self.url = database.url
        self.dialect = database.dialect

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """No savepoint (they cost round trips): an error that leaves the job undoes the
        whole transaction, and its answer is then recorded in one of its own."""
        try:
            yield self._conn
        except (exc.OperationalError, exc.InterfaceError) as error:
            raise StoreUnavailable(f"the database refused the write: {error.orig}") from error

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        try:
            yield self._conn
        except (exc.OperationalError, exc.InterfaceError) as error:
            raise StoreUnavailable(f"the database refused the read: {error.orig}") from error

    async def close(self) -> None:
        """The transaction belongs to its opener: nothing to close here."""
