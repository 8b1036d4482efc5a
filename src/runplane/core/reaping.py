"""Reaping: tasks whose worker stopped responding (its lease expired) are queued again, or
failed once their attempts are used up; a batch whose driver failed for good ends with it."""

from __future__ import annotations

from datetime import datetime

from runplane.clock import utcnow
from runplane.core import batch_driver
from runplane.core.context import Core
from runplane.core.job_set import JobSet
from runplane.model import RunKind
from runplane.store import leases
from runplane.store.queue import FinishedRun
from runplane.store.unit import Tx

Reaped = tuple[int, list[FinishedRun]]  # how many were requeued, and the runs that ended


def reap_and_abandon(conn: Tx, now: datetime, jobs: JobSet) -> Reaped:
    """Expired leases requeued or failed (leases.reap); a batch whose driver failed for good
    ends in the same transaction, its unanswered jobs answered in the batch door's words."""
    requeued, finished = leases.reap(conn, now=now)
    for run in finished:
        if run.run is not None and run.run.kind == RunKind.BATCH:
            batch_driver.abandon(conn, run.run_id, jobs.driver_lost())
    return requeued, finished


async def reap(core: Core) -> Reaped:
    return await core.database.write(reap_and_abandon, utcnow(), core.jobs())
