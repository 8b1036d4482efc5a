"""Reaping: tasks whose worker stopped responding (its lease expired) are queued again, or
failed once their attempts are used up; a batch whose driver failed for good ends with it."""

from __future__ import annotations

from datetime import datetime

from runplane.clock import utcnow
from runplane.core import batch_driver
from runplane.core.context import Core
from runplane.core.job_set import JobAnswer
from runplane.model import RunKind
from runplane.store import leases
from runplane.store.queue import FinishedRun
from runplane.store.unit import Tx

Reaped = tuple[int, list[FinishedRun]]  # how many were requeued, and the runs that ended


def reap_and_abandon(conn: Tx, now: datetime, lost: JobAnswer | None) -> Reaped:
    """Expired leases requeued or failed (leases.reap); a batch whose driver failed for good
    ends in the same transaction, its unanswered jobs answered `lost` (the batch door's
    words for it). Without them (no job set attached) such a reap rolls back."""
    requeued, finished = leases.reap(conn, now=now)
    for run in finished:
        if run.run is not None and run.run.kind == RunKind.BATCH:
            if lost is None:
                raise RuntimeError("no batch actions attached to the core (Core.batch_jobs)")
            batch_driver.abandon(conn, run.run_id, lost)
    return requeued, finished


async def reap(core: Core) -> Reaped:
    jobs = core.batch_jobs
    lost = jobs.driver_lost() if jobs is not None else None
    return await core.database.write(reap_and_abandon, utcnow(), lost)
