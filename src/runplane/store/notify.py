"""Cross-process wake-ups on PostgreSQL: NOTIFY inside the writing transaction, LISTEN here.

A NOTIFY sent inside a transaction is delivered when it commits, so a listener never hears
of work that is not there yet. SQLite has no such thing: other processes poll instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import psycopg
from sqlalchemy import Connection, func, select

from runplane.store.database import sync_url

log = logging.getLogger("runplane.store")

WORK_CHANNEL = "runplane_work"
RUNS_CHANNEL = "runplane_runs"
RECONNECT_DELAY = 1.0


def work_queued(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_notify(WORK_CHANNEL, "")))


def run_ended(conn: Connection, run_id: int) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_notify(RUNS_CHANNEL, str(run_id))))


def _libpq_url(url: str) -> str:
    # psycopg wants a plain postgresql:// URL, without SQLAlchemy's driver suffix.
    return sync_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Listener:
    """Listens on a dedicated connection and calls back on every notification."""

    def __init__(
        self, url: str, *, on_work: Callable[[], None], on_run_ended: Callable[[int], None]
    ) -> None:
        self.url = _libpq_url(url)
        self.on_work = on_work
        self.on_run_ended = on_run_ended
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="runplane-listen")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen_forever(self) -> None:
        while True:
            try:
                await self._listen()
            except (psycopg.Error, OSError) as error:
                # Polling still finds everything meanwhile; only latency suffers.
                log.warning("LISTEN connection lost (%s); reconnecting", error)
                await asyncio.sleep(RECONNECT_DELAY)

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            await conn.execute(f"LISTEN {WORK_CHANNEL}")
            await conn.execute(f"LISTEN {RUNS_CHANNEL}")
            async for notice in conn.notifies():
                if notice.channel == WORK_CHANNEL:
                    self.on_work()
                elif notice.channel == RUNS_CHANNEL and notice.payload.isdigit():
                    self.on_run_ended(int(notice.payload))
