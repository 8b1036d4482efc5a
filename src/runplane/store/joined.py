"""A database look-alike over one held transaction: a batch job and its answer, atomically.

A batch job that only changes the store (create a device, update a script...) runs with this
in place of the core's database: every `write()` and `read()` of the core happens in the
driver's transaction. The driver then records the job's answer in the same transaction and
commits once, so a crash either keeps both the change and its answer, or neither: the job is
never done twice, and costs one commit.
"""

from __future__ import annotations

from typing import TypeVar

from runplane.store.database import Database, P, Transaction, Unit

T = TypeVar("T")


class JoinedDatabase:
    def __init__(self, transaction: Transaction, database: Database) -> None:
        self._transaction = transaction
        self.url = database.url
        self.dialect = database.dialect

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    async def write(self, work: Unit[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """No savepoint (they cost round trips): an error that leaves the job undoes the
        whole transaction, and its answer is then recorded in one of its own."""
        return await self._transaction.run(work, *args, **kwargs)

    async def read(self, work: Unit[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._transaction.run(work, *args, **kwargs)

    # Inside the transaction, small units are no different.
    read_small = read
    write_small = write

    async def close(self) -> None:
        """The transaction belongs to its opener: nothing to close here."""
