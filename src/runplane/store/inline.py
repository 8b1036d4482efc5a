"""Small SQLite units of work on the calling thread (the event loop's), when the file is free.

A unit that touches a handful of rows takes SQLite tens of microseconds; handing it to a
database thread and back costs several times that in thread switches and GIL handoffs. So a
small unit first runs here, on a connection of its own that never waits: its busy timeout
is zero, so BEGIN IMMEDIATE either gets the write lock at once or fails, and the unit (rolled
back, nothing done) then goes to the database threads, which wait for the lock as usual. A
WAL reader never waits for a writer, so reads practically always run here.

Checkpoints are not run from here (they can take milliseconds of disk I/O): the connection has
no automatic checkpoint, and every CHECKPOINT_EVERY commits one is asked of the writer thread.
Until it is done, writes do not start here: they go to the writer thread, behind it. Had they
gone on here, they would have taken the write lock between the checkpoint's tries for it, and
on a busy machine the checkpoint gave up and the WAL grew.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, exc

from runplane.errors import StoreUnavailable

T = TypeVar("T")
CHECKPOINT_EVERY = 256
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_IOERR = 5, 6, 10


class Busy(Exception):
    """The database was locked: the unit did nothing here and must run on a thread."""


def driver_error(error: exc.DBAPIError | sqlite3.Error) -> BaseException:
    """The driver's own error, whether SQLAlchemy wrapped it or not."""
    if isinstance(error, exc.DBAPIError) and error.orig is not None:
        return error.orig
    return error


def describe(error: exc.DBAPIError | sqlite3.Error) -> str:
    """The driver's message with SQLite's own error name (SQLITE_IOERR_SHORT_READ...), which
    tells the many kinds of "disk I/O error" apart."""
    orig = driver_error(error)
    name = getattr(orig, "sqlite_errorname", None)
    return f"{orig} ({name})" if name else str(orig)


def is_io_error(error: exc.DBAPIError | sqlite3.Error) -> bool:
    """SQLite could not read or write its files through this connection (SQLITE_IOERR_*)."""
    code = getattr(driver_error(error), "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF == _SQLITE_IOERR


def is_busy(error: exc.DBAPIError | sqlite3.Error) -> bool:
    orig = driver_error(error)
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    return "database is locked" in str(orig)


class InlineSqlite:
    """One connection, used only from the event loop's thread, one unit at a time."""

    def __init__(self, engine: Engine, checkpoint: Callable[[], Future[None]]) -> None:
        """`engine`: a single-connection engine set up never to wait and to leave BEGIN to
        us (see database.py). `checkpoint` queues a checkpoint on the writer thread."""
        self._engine = engine
        self._checkpoint = checkpoint
        self._commits = 0
        # Set from asking for a checkpoint until it is done (on the writer thread).
        self._checkpointing = threading.Event()
        # The connection serves the first thread that uses it (the event loop's); a unit
        # from any other thread goes to the database threads, as if the file were locked.
        self._thread: int | None = None
        # Kept open between units: opening and closing a Connection (pool checkout, reset,
        # return) cost more CPU than a small unit's statements.
        self._conn: Connection | None = None

    def run(self, work: Callable[..., T], args: Any, kwargs: Any, *, writing: bool) -> T:
        """The unit's result; Busy if the database was locked (nothing was done)."""
        if self._thread is None:
            self._thread = threading.get_ident()
        elif self._thread != threading.get_ident():
            raise Busy
        if writing and self._checkpointing.is_set():
            raise Busy  # behind the checkpoint on the writer thread
        try:
            if self._conn is None:
                self._conn = self._engine.connect()
            conn = self._conn
            # BEGIN on the driver (SQLAlchemy's own begin is a no-op for pysqlite), then
            # SQLAlchemy's transaction, whose commit or rollback ends it.
            driver = cast(sqlite3.Connection, conn.connection.driver_connection)
            driver.execute("BEGIN IMMEDIATE" if writing else "BEGIN")
            try:
                with conn.begin():
                    result = work(conn, *args, **kwargs)
            finally:
                if driver.in_transaction:  # SQLAlchemy had not begun: an error before
                    driver.rollback()
        except (sqlite3.OperationalError, sqlite3.InterfaceError,  # our BEGIN
                exc.OperationalError, exc.InterfaceError) as error:  # the unit's statements
            self._drop()  # the next unit starts on a fresh Connection
            if is_busy(error):
                raise Busy from error
            raise StoreUnavailable(
                f"the database refused the {'write' if writing else 'read'}: "
                f"{describe(error)}"
            ) from error
        if writing:
            self._commits += 1
            if self._commits % CHECKPOINT_EVERY == 0:
                self._checkpointing.set()
                self._checkpoint().add_done_callback(lambda _: self._checkpointing.clear())
        return result

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    def close(self) -> None:
        self._drop()
        self._engine.dispose()
