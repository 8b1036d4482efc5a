"""Units of work (store/database.py) on a real database: threads, held transactions, and the
small units that SQLite runs on the calling thread when the file is free (store/inline.py)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import threading
from typing import Any

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from runplane.errors import Conflict, NotFound, StoreUnavailable
from runplane.store import inline
from runplane.store.database import Database
from runplane.store.migrate import upgrade

pytestmark = pytest.mark.anyio


@pytest.fixture
async def database(database_url: str) -> Any:
    opened = Database(database_url)
    await opened.write(lambda conn: conn.execute(text(
        "CREATE TABLE IF NOT EXISTS scratch (n INTEGER)")))
    yield opened
    await opened.write(lambda conn: conn.execute(text("DROP TABLE scratch")))
    await opened.close()


def add(conn: Connection, n: int) -> int:
    conn.execute(text("INSERT INTO scratch (n) VALUES (:n)"), {"n": n})
    return int(conn.execute(text("SELECT count(*) FROM scratch")).scalar_one())


def count(conn: Connection) -> int:
    return int(conn.execute(text("SELECT count(*) FROM scratch")).scalar_one())


def add_then_fail(conn: Connection, n: int) -> None:
    add(conn, n)
    raise NotFound("Thing", "Not found.")


async def test_small_units_commit_and_roll_back_like_the_others(database: Database) -> None:
    assert await database.write_small(add, 1) == 1
    assert await database.write(add, 2) == 2
    with pytest.raises(NotFound):
        await database.write_small(add_then_fail, 3)
    with pytest.raises(NotFound):
        await database.write(add_then_fail, 4)
    assert await database.read_small(count) == 2 == await database.read(count)


def add_unique_twice(conn: Connection) -> None:
    conn.execute(text("CREATE UNIQUE INDEX IF NOT EXISTS scratch_n ON scratch (n)"))
    conn.execute(text("INSERT INTO scratch (n) VALUES (7)"))
    conn.execute(text("INSERT INTO scratch (n) VALUES (7)"))


@pytest.mark.parametrize("size", ["small", "any"])
async def test_a_broken_constraint_leaves_the_store_as_a_conflict_and_rolls_back(
    database: Database, size: str,
) -> None:
    write = database.write_small if size == "small" else database.write
    with pytest.raises(Conflict, match="unique key conflicts with a stored row"):
        await write(add_unique_twice)
    assert await database.read(count) == 0


async def test_a_small_write_waits_on_a_thread_when_the_file_is_locked(
    database: Database, database_url: str
) -> None:
    """On SQLite another process (here: a raw connection) holds the write lock: the small
    unit must not fail nor block the event loop; it runs on the writer thread once the lock
    is free."""
    if database.is_postgres:
        pytest.skip("PostgreSQL units always run on database threads")
    path = database_url.removeprefix("sqlite:///")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    release.start()
    try:
        ticks = 0

        async def ticking() -> None:  # the loop keeps turning meanwhile
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        clock = asyncio.create_task(ticking())
        assert await database.write_small(add, 1) == 1
        clock.cancel()
        assert ticks >= 10, ticks
    finally:
        release.join()
        other.close()


async def test_checkpoints_are_asked_of_the_writer_thread(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    if database.is_postgres:
        pytest.skip("SQLite only")
    monkeypatch.setattr(inline, "CHECKPOINT_EVERY", 5)
    names: list[str] = []
    real = database._checkpoint

    def checkpoint() -> None:
        names.append(threading.current_thread().name)
        real()

    monkeypatch.setattr(database, "_checkpoint", checkpoint)
    for n in range(11):
        await database.write_small(add, n)
    await database.write(count)  # after the checkpoints queued on the writer thread
    assert len(names) == 2 and all(name.startswith("runplane-db-write") for name in names)


async def test_small_writes_queue_behind_a_checkpoint_until_it_is_done(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inline writes taking the write lock between a checkpoint's tries for it made the
    checkpoint give up on a loaded machine (CI), and the WAL grew. While one is queued or
    running, writes go to the writer thread, behind it."""
    if database.is_postgres:
        pytest.skip("SQLite only")
    monkeypatch.setattr(inline, "CHECKPOINT_EVERY", 3)
    release = threading.Event()
    real = database._checkpoint

    def slow_checkpoint() -> None:
        release.wait(10)
        real()

    def where(conn: Connection) -> str:
        conn.execute(text("INSERT INTO scratch (n) VALUES (0)"))
        return threading.current_thread().name

    monkeypatch.setattr(database, "_checkpoint", slow_checkpoint)
    here = threading.current_thread().name
    assert [await database.write_small(where) for _ in range(3)] == [here] * 3
    writing = asyncio.create_task(database.write_small(where))
    await asyncio.sleep(0.1)
    assert not writing.done()  # queued behind the checkpoint
    assert await database.read_small(count) == 3  # reads still run at once
    release.set()
    assert (await writing).startswith("runplane-db-write")
    assert await database.write_small(where) == here  # inline again once it is done


async def test_a_held_transaction_makes_small_writes_queue_behind_it(
    database: Database
) -> None:
    if database.is_postgres:
        pytest.skip("PostgreSQL writers do not wait for each other unless their rows meet")
    async with database.transaction() as held:
        await held.run(add, 1)
        writing = asyncio.create_task(database.write_small(add, 2))
        await asyncio.sleep(0.1)
        assert not writing.done()  # the file is locked by the held transaction
    assert await writing == 2


async def test_small_units_from_another_thread_go_to_the_database_threads(
    database: Database
) -> None:
    """The inline connection belongs to the event loop that used it first: a second loop in
    another thread (never so in the server, but a library user may) is served by threads."""
    def where(conn: Connection) -> str:
        return threading.current_thread().name

    here = threading.current_thread().name
    first = await database.write_small(where)
    if not database.is_postgres:
        assert first == here  # inline, on this loop's thread

    def elsewhere() -> str:
        return asyncio.run(database.write_small(where))

    assert (await asyncio.to_thread(elsewhere)).startswith("runplane-db")
    if not database.is_postgres:
        assert await database.read_small(where) == here


def add_row(conn: Connection, n: int) -> None:
    conn.execute(text("INSERT INTO scratch (n) VALUES (:n)"), {"n": n})


async def test_the_wal_is_recycled_under_a_steady_stream_of_small_writes(
    database: Database, database_url: str
) -> None:
    """SQLite starts its WAL over only when a checkpoint has copied all of it back and no
    write came meanwhile. Checkpoints on the writer thread overlapped the small writes of the
    event loop's thread, so under steady load none ever finished and the WAL grew without
    end (266 MB after 4,600 runs of the benchmark). It must stay near one checkpoint period's
    worth of pages."""
    if database.is_postgres:
        pytest.skip("SQLite only")
    wal = database_url.removeprefix("sqlite:///") + "-wal"
    largest = 0
    for n in range(12 * inline.CHECKPOINT_EVERY):
        await database.write_small(add_row, n)
        if n % 64 == 0:
            await asyncio.sleep(0)  # the loop turns, as a server's does between requests
            largest = max(largest, os.path.getsize(wal))
    period = inline.CHECKPOINT_EVERY * 2 * 4096  # a commit writes a page or two here
    assert largest < 3 * period, (largest, period)


async def test_a_new_sqlite_file_and_its_journal_are_the_owners_alone(tmp_path: Any) -> None:
    path = tmp_path / "new.db"
    upgrade(f"sqlite:///{path}")  # `runplane migrate` makes it first
    opened = Database(f"sqlite:///{path}")
    try:
        await opened.write(lambda conn: conn.execute(text("CREATE TABLE t (n INTEGER)")))
        modes = {name: stat.S_IMODE(os.stat(f"{path}{name}").st_mode)
                 for name in ("", "-wal", "-shm") if os.path.exists(f"{path}{name}")}
    finally:
        await opened.close()
    assert modes[""] == 0o600 and set(modes.values()) == {0o600}, modes


async def test_a_connection_that_cannot_read_its_file_is_replaced(tmp_path: Any) -> None:
    """A pooled SQLite connection whose reads fail with SQLITE_IOERR stays broken: the read
    is tried once more on a fresh connection, and the broken one leaves the pool."""
    opened = Database(f"sqlite:///{tmp_path / 'io.db'}")
    seen: list[Any] = []

    def flaky(conn: Connection) -> int:
        seen.append(conn.connection.dbapi_connection)
        if len(seen) == 1:
            failure = sqlite3.OperationalError("disk I/O error")
            failure.sqlite_errorcode = 266  # type: ignore[attr-defined]
            failure.sqlite_errorname = "SQLITE_IOERR_READ"  # type: ignore[attr-defined]
            raise OperationalError("SELECT 1", {}, failure)
        return int(conn.execute(text("SELECT 1")).scalar_one())

    def other_failure(conn: Connection) -> int:
        failure = sqlite3.OperationalError("no such table: nowhere")
        failure.sqlite_errorcode = 1  # type: ignore[attr-defined]
        raise OperationalError("SELECT 1", {}, failure)

    try:
        assert await opened.read(flaky) == 1
        assert len(seen) == 2 and seen[0] is not seen[1]
        with pytest.raises(StoreUnavailable):  # not an I/O error: not retried
            await opened.read(other_failure)
    finally:
        await opened.close()
