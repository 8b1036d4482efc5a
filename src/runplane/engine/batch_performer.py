"""Performing a batch's driver task: its jobs in order through the core's job set
(core/job_set.py: the batch door's actions, attached at wiring).

The batch lives in the store (core/batch_driver.py); this performer only walks it and
reports the driver task's result, which the worker records as for any task.
"""

from __future__ import annotations

import logging

from runplane.clock import utcnow
from runplane.core.batch_driver import LeaseLost, open_driver, perform_jobs
from runplane.engine.performers import WorkerContext
from runplane.engine.script_performer import internal_failure
from runplane.model import SUCCESS, ClaimedTask, TaskResult
from runplane.model.batches import JOB_DONE

log = logging.getLogger("runplane.batch")


async def perform_batch(context: WorkerContext, task: ClaimedTask) -> TaskResult:
    started = utcnow()
    opened = await open_driver(
        context.core, task.run_id, task.meta, task.task_id, context.worker_name
    )
    if opened is None:
        return internal_failure("runplane: the batch of this run no longer exists.")
    driver, jobs = opened
    # Jobs answered before a restart of the driver are not run again.
    pending = [job for job in jobs if job.status != JOB_DONE]
    ran = 0
    try:
        while ran < len(pending):
            ran += await perform_jobs(driver, pending[ran:])
    except LeaseLost:
        log.warning("batch %s: another worker drives it now; stopping here",
                    driver.batch.async_id)
    finished = utcnow()
    note = (f"batch {driver.batch.async_id}: {ran} job(s) run, "
            f"{len(jobs) - len(pending)} done before\n")
    return TaskResult(
        status=SUCCESS, exit_code=0, stdout=note, stderr="", output_truncated=False,
        started_at=started, finished_at=finished,
        duration_ms=int((finished - started).total_seconds() * 1000),
    )
