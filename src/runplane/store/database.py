"""Engines per dialect, units of work on database threads, driver errors translated.

The store's functions are plain synchronous functions of a SQLAlchemy `Connection`. The
async rest of runplane hands one *unit of work* (such a function and its arguments) to
`Database.read` or `Database.write`, which runs the whole unit, inside one transaction, on a
database thread: one thread hop per transaction instead of several per statement, and the
event loop never blocks on the database.

SQLite runs in WAL mode with a busy timeout. Its write units go to a single writer thread, so
the writers of one process queue in order instead of sleeping in SQLite's busy handler, and
each write transaction starts with BEGIN IMMEDIATE (other processes' writers then wait on
the lock rather than failing on upgrade). Readers have threads of their own and never wait
for the writer (WAL). PostgreSQL (psycopg 3) runs reads and writes on one pool of threads,
one connection each.

`transaction()` holds one write transaction open across several awaits (a batch driver's
group of jobs); everything it runs goes to the thread that holds it.

`read_small` and `write_small` are for units that touch a handful of rows (a key, a lookup,
a script run's insert, a claim, a result): on SQLite they run at once on the calling thread
when the file is free, where a thread hop would cost more than the unit (store/inline.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool, StaticPool

from runplane import linear_regex
from runplane.errors import NUL_MESSAGE, Conflict, Invalid, StoreUnavailable
from runplane.store.inline import Busy, InlineSqlite, describe, is_io_error
from runplane.store.time_bound import QUERY_TIMEOUT_OPTION

log = logging.getLogger("runplane.store")

# How long a checkpoint waits for readers of older snapshots before it leaves the WAL as it is.
CHECKPOINT_WAIT_MS = 200
WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_READER_THREADS = 4
# PostgreSQL's bound on a statement that runs a user's regex (store/time_bound.py).
DEFAULT_QUERY_TIMEOUT_MS = 5000
_WRITE = "runplane_write"

P = ParamSpec("P")
T = TypeVar("T")
Unit = Callable[Concatenate[Connection, P], T]


def parse_database_url(url: str) -> URL:
    """Accept sqlite:///file, postgres://, postgresql:// and driver-qualified forms."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")
    return parsed


def database_file(url: str) -> str | None:
    """The absolute path of a SQLite database's file; None for PostgreSQL or in memory."""
    parsed = parse_database_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return os.path.abspath(parsed.database)


def create_private_file(url: str) -> None:
    """Make a SQLite database's file, if it is not there yet, readable by its owner only:
    SQLite would make it (and its -wal and -shm, which copy its mode) readable by all."""
    path = database_file(url)
    if path is None:
        return
    # Already there; or no folder, which SQLite will say.
    with contextlib.suppress(FileExistsError, FileNotFoundError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))


def sync_url(url: str) -> URL:
    parsed = parse_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite")
    return parsed.set(drivername="postgresql+psycopg")


def _prepare_sqlite(engine: Engine, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
                    autocheckpoint: bool = True, begin_event: bool = True) -> None:
    """PRAGMAs on every new connection; with `begin_event`, BEGIN (IMMEDIATE for writes) at
    the start of every transaction. Without it the caller emits BEGIN itself: any
    connection event makes SQLAlchemy dispatch events around every statement."""
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us emit BEGIN ourselves (the driver's implicit BEGIN is always DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # A WAL that a long reader let grow is cut back to this when it starts over.
        cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
        if not autocheckpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()
        # REGEXP in linear time, in place of the re.search that SQLAlchemy registers: a
        # user's pattern must not hold this connection's thread (maybe the event loop's).
        dbapi_connection.create_function("regexp", 2, linear_regex.search, deterministic=True)

    if not begin_event:
        return

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        writing = connection.get_execution_options().get(_WRITE, False)
        # Straight to the driver: through exec_driver_sql this cost a statement's overhead
        # on every transaction. (The driver's errors still reach SQLAlchemy's handling.)
        try:
            connection.connection.driver_connection.execute(
                "BEGIN IMMEDIATE" if writing else "BEGIN"
            )
        except sqlite3.OperationalError as error:
            raise exc.OperationalError("BEGIN", (), error) from error


class Database:
    """One database: its engine, the threads that run units of work on it."""

    def __init__(self, url: str, *, pool_size: int = 10, pooled: bool = True,
                 query_timeout_ms: int = DEFAULT_QUERY_TIMEOUT_MS) -> None:
        self.url = url
        target = sync_url(url)
        self.dialect = target.get_backend_name()
        if self.dialect == "sqlite" and target.database in (None, "", ":memory:"):
            raise ValueError("an in-memory SQLite database cannot be shared; use a file")
        create_private_file(url)
        options: dict[str, Any] = {"poolclass": NullPool}
        if pooled:
            options = {"pool_size": pool_size, "max_overflow": pool_size}
        if self.dialect == "postgresql":
            options["pool_pre_ping"] = pooled
            threads = pool_size if pooled else 2
            self._writes = self._reads = ThreadPoolExecutor(threads, "runplane-db")
            self._writers = threads
        else:
            # Connections move between the reader threads (one thread at a time each).
            options["connect_args"] = {"check_same_thread": False}
            self._writes = ThreadPoolExecutor(1, "runplane-db-write")
            self._writers = 1
            self._reads = ThreadPoolExecutor(SQLITE_READER_THREADS, "runplane-db-read")
        # Every connection carries the bound; store/time_bound.py applies it where needed.
        options["execution_options"] = {QUERY_TIMEOUT_OPTION: query_timeout_ms}
        self.engine = create_engine(target, **options)
        self._writer = self.engine.execution_options(**{_WRITE: True})
        self._inline: InlineSqlite | None = None
        if self.dialect == "sqlite":
            _prepare_sqlite(self.engine)
            inline = create_engine(target, poolclass=StaticPool,
                                   connect_args={"check_same_thread": False})
            _prepare_sqlite(inline, busy_timeout_ms=0, autocheckpoint=False, begin_event=False)
            self._inline = InlineSqlite(inline, self._checkpoint_soon)

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @property
    def writers_at_once(self) -> int:
        """How many write transactions can make progress at once: one on SQLite (a single
        writer), a database thread each on PostgreSQL."""
        return self._writers

    async def write(self, work: Unit[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `work(conn, ...)` in one write transaction (serialised on SQLite), committed
        when it returns, rolled back when it raises."""
        unit = partial(self._run_write, work, args, kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._writes, unit)

    async def read(self, work: Unit[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `work(conn, ...)` in one read-only transaction (a consistent snapshot)."""
        unit = partial(self._run_read, work, args, kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._reads, unit)

    async def write_small(self, work: Unit[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`write` for a unit that touches a handful of rows: on SQLite it runs at once on
        this thread if the database is free (store/inline.py), else as `write` does."""
        return await self._small(True, work, args, kwargs)

    async def read_small(self, work: Unit[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`read` for a unit that reads a handful of rows (see write_small)."""
        return await self._small(False, work, args, kwargs)

    async def _small(self, writing: bool, work: Callable[..., T], args: Any, kwargs: Any
                     ) -> T:
        if self._inline is not None:
            try:
                return self._inline.run(work, args, kwargs, writing=writing)
            except Busy:
                pass  # locked: the unit did nothing here; a database thread will wait
            except exc.IntegrityError as error:
                raise conflict(error) from error
        pool = self._writes if writing else self._reads
        unit = partial(self._run_write if writing else self._run_read, work, args, kwargs)
        return await asyncio.get_running_loop().run_in_executor(pool, unit)

    def _checkpoint_soon(self) -> Future[None]:
        """A WAL checkpoint on the writer thread, which starts the WAL over (see _checkpoint)."""
        future = self._writes.submit(self._checkpoint)
        future.add_done_callback(_log_failure)
        return future

    def _checkpoint(self) -> None:
        """Copy the WAL back into the database and have the next write start it over.

        SQLite reuses its WAL from the start only once a checkpoint has copied all of it and
        no write came in between. A PASSIVE checkpoint here overlapped the event loop's small
        writes, so under steady load none ever finished and the WAL grew without end (266 MB
        in a benchmark of 4,600 runs). RESTART holds the write lock while it copies; small
        writes are not started inline meanwhile, and queue behind it on this thread. It waits
        for readers of older snapshots at most CHECKPOINT_WAIT_MS; if they are not done by
        then, the WAL is started over at a later checkpoint.
        """
        with self.engine.connect() as conn:
            conn.exec_driver_sql(f"PRAGMA busy_timeout={CHECKPOINT_WAIT_MS}")
            try:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(RESTART)")
            finally:
                conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")

    def _run_write(self, work: Callable[..., T], args: Any, kwargs: Any) -> T:
        with _translated("write"), self._writer.begin() as conn:
            return work(conn, *args, **kwargs)

    def _run_read(self, work: Callable[..., T], args: Any, kwargs: Any) -> T:
        with _translated("read"):
            with self.engine.connect() as conn:
                try:
                    return work(conn, *args, **kwargs)
                except exc.OperationalError as error:
                    if not is_io_error(error):
                        raise
                    # A pooled SQLite connection that could not read its file stays unable
                    # to (seen once in CI under 50 clients: SQLITE_IOERR_READ on every read it
                    # served). Drop it from the pool, and read once more on a fresh one.
                    log.warning("a database connection failed to read (%s): replaced, and "
                                "the read tried once more", describe(error))
                    conn.invalidate()
            with self.engine.connect() as conn:
                return work(conn, *args, **kwargs)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One write transaction held open across awaits: committed if the block ends
        normally, rolled back if it raises (or is cancelled)."""
        held = Transaction(asyncio.get_running_loop())
        opened = self._writes.submit(held.hold, self._writer)
        try:
            await held.wait_open()
            yield held
        except BaseException:
            await held.finish(commit=False, opened=opened)
            raise
        await held.finish(commit=True, opened=opened)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        for pool in {self._writes, self._reads}:
            await loop.run_in_executor(None, partial(pool.shutdown, wait=True))
        if self._inline is not None:
            self._inline.close()
        self.engine.dispose()


def _log_failure(future: Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("WAL checkpoint failed: %s", future.exception())


_COMMIT, _ROLLBACK = object(), object()


class Transaction:
    """A write transaction held by one database thread, fed units from the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._ready: asyncio.Future[None] = loop.create_future()

    def hold(self, writer: Engine) -> None:
        """On a database thread: open the transaction, run what arrives, commit or roll back."""
        try:
            with _translated("write"), writer.connect() as conn:
                transaction = conn.begin()
                self._loop.call_soon_threadsafe(_settle, self._ready, None, None)
                while True:
                    item = self._inbox.get()
                    if item is _COMMIT or item is _ROLLBACK:
                        (transaction.commit if item is _COMMIT else transaction.rollback)()
                        return
                    work, args, kwargs, future = item
                    try:
                        result = work(conn, *args, **kwargs)
                    except BaseException as error:  # the holder decides what it means
                        self._loop.call_soon_threadsafe(_settle, future, None, error)
                    else:
                        self._loop.call_soon_threadsafe(_settle, future, result, None)
        except BaseException as error:  # BEGIN failed: the opener hears of it
            self._loop.call_soon_threadsafe(_settle, self._ready, None, error)
            raise

    async def wait_open(self) -> None:
        await asyncio.shield(self._ready)

    async def run(self, work: Unit[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `work(conn, ...)` inside the held transaction."""
        future: asyncio.Future[T] = self._loop.create_future()
        self._inbox.put((work, args, kwargs, future))
        with _translated("write"):
            return await future

    async def finish(self, *, commit: bool, opened: Future[None]) -> None:
        self._inbox.put(_COMMIT if commit else _ROLLBACK)
        # Shielded: the thread must be done with the connection before we go on.
        await asyncio.shield(asyncio.wrap_future(opened))


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


@contextmanager
def _translated(what: str) -> Iterator[None]:
    """Driver errors about the database itself become StoreUnavailable, a broken constraint
    that no store function turned into a named one becomes Conflict; others pass."""
    try:
        yield
    except (exc.OperationalError, exc.InterfaceError) as error:
        raise StoreUnavailable(f"the database refused the {what}: {describe(error)}") from error
    except exc.IntegrityError as error:
        raise conflict(error) from error
    except exc.DataError as error:  # a value the database cannot hold: the caller's input
        raise refused_value(error) from error


def refused_value(error: exc.DataError) -> Invalid:
    """A value the database refused (NUL in PostgreSQL's text, a number out of its range):
    the request's fault, said without the driver's words."""
    if "nul" in str(error.orig).lower():
        return Invalid.field("value", NUL_MESSAGE)
    return Invalid.field("value", "The database cannot keep this value.")


def conflict(error: exc.IntegrityError) -> Conflict:
    """A unique or foreign key constraint the unit broke (another writer got there first)."""
    return Conflict("constraint", f"the {what_broke(error)} conflicts with a stored row")


def what_broke(error: exc.IntegrityError) -> str:
    text = str(error.orig).lower()
    return "foreign key" if "foreign key" in text else "unique key" if "unique" in text else "row"
