"""Reaping: tasks whose worker stopped responding (its lease expired) are queued again, or
failed once their attempts are used up; a batch whose driver failed for good ends with it."""

from __future__ import annotations

from datetime import datetime

from runplane.clock import utcnow
from runplane.core import batch_driver
from runplane.model import RunKind
from runplane.store import queue
from runplane.store.database import Database
from runplane.store.queue import FinishedRun
from runplane.store.unit import Tx

Reaped = tuple[int, list[FinishedRun]]  # how many were requeued, and the runs that ended


def reap_and_abandon(conn: Tx, now: datetime) -> Reaped:
    """Expired leases requeued or failed (queue.reap); a batch whose driver failed for good
    ends in the same transaction, its unanswered jobs answered with the reason."""
    requeued, finished = queue.reap(conn, now=now)
    for run in finished:
        if run.run is not None and run.run.kind == RunKind.BATCH:
            batch_driver.abandon(conn, run.run_id)
    return requeued, finished


async def reap(database: Database) -> Reaped:
    return await database.write(reap_and_abandon, utcnow())
