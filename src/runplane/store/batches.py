"""Batches and their jobs: stored with their driver run, advanced job by job, pruned."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, exists, insert, select, text, update

from runplane.model import BATCH_RUN, RUNNING
from runplane.model.batches import BATCH_FINISHED as FINISHED
from runplane.model.batches import BATCH_PENDING as PENDING
from runplane.model.batches import BATCH_RUNNING as STARTED
from runplane.model.batches import JOB_DONE, JOB_PENDING, JOB_RUNNING, Batch, BatchJob, Job
from runplane.store.tables import batch_jobs, batches, instances, runs, tasks
from runplane.store.types import AnyRow

_BATCH_COLUMNS = (
    *(batches.c[name] for name in (
        "id", "instance_id", "async_id", "run_id", "status", "callback_url", "jobs_total",
        "jobs_done", "created_at", "started_at", "finished_at",
    )),
    instances.c.name.label("instance_name"),
)
_BATCH_FROM = batches.join(instances, instances.c.id == batches.c.instance_id)
_JOB_COLUMNS = tuple(batch_jobs.c[name] for name in (
    "id", "position", "namespace", "action", "params", "status", "response", "run_id",
))


def _batch(row: AnyRow) -> Batch:
    return Batch(**row._mapping)


def _job(row: AnyRow) -> BatchJob:
    return BatchJob(**row._mapping)


def insert_batch(
    conn: Connection, *, instance_id: int, async_id: str, run_id: int,
    callback_url: str | None, jobs: Sequence[Job], now: datetime,
) -> int:
    """The batch and its jobs, in the caller's transaction (with its driver run)."""
    batch_id = int(conn.execute(
        insert(batches).values(
            instance_id=instance_id, async_id=async_id, run_id=run_id, status=PENDING,
            callback_url=callback_url, jobs_total=len(jobs), jobs_done=0, created_at=now,
        ).returning(batches.c.id)
    ).scalar_one())
    conn.execute(insert(batch_jobs), [
        {"batch_id": batch_id, "position": position, "namespace": job.namespace,
         "action": job.action, "params": job.params, "status": JOB_PENDING}
        for position, job in enumerate(jobs)
    ])
    return batch_id


def get_batch(conn: Connection, instance_id: int, async_id: str) -> Batch | None:
    query = select(*_BATCH_COLUMNS).select_from(_BATCH_FROM).where(
        batches.c.instance_id == instance_id, batches.c.async_id == async_id
    )
    row = conn.execute(query).first()
    return _batch(row) if row else None


def batch_by_id(conn: Connection, batch_id: int) -> Batch | None:
    query = select(*_BATCH_COLUMNS).select_from(_BATCH_FROM).where(batches.c.id == batch_id)
    row = conn.execute(query).first()
    return _batch(row) if row else None


def batch_of_run(conn: Connection, run_id: int) -> Batch | None:
    query = select(*_BATCH_COLUMNS).select_from(_BATCH_FROM).where(batches.c.run_id == run_id)
    row = conn.execute(query).first()
    return _batch(row) if row else None


def jobs_of(conn: Connection, batch_id: int) -> list[BatchJob]:
    query = (
        select(*_JOB_COLUMNS).where(batch_jobs.c.batch_id == batch_id)
        .order_by(batch_jobs.c.position)
    )
    return [_job(row) for row in conn.execute(query).all()]


def mark_started(conn: Connection, batch_id: int, now: datetime) -> None:
    conn.execute(
        update(batches).where(batches.c.id == batch_id, batches.c.status == PENDING)
        .values(status=STARTED, started_at=now)
    )


def link_job_run(conn: Connection, job_id: int, run_id: int, now: datetime) -> None:
    """Remember the run a job started, in the transaction that made the run."""
    conn.execute(
        update(batch_jobs).where(batch_jobs.c.id == job_id)
        .values(status=JOB_RUNNING, run_id=run_id, started_at=now)
    )


def _driving(task_id: int, owner: str) -> Any:
    """`owner` still holds the lease on the batch's driver task."""
    return exists().where(
        tasks.c.id == task_id, tasks.c.lease_owner == owner, tasks.c.status == RUNNING
    )


def answer_job(conn: Connection, job_id: int, response: Any, now: datetime) -> int:
    """Keep a job's response; answers 1, or 0 if it had one already (to count it once)."""
    marked = conn.execute(
        update(batch_jobs).where(batch_jobs.c.id == job_id, batch_jobs.c.status != JOB_DONE)
        .values(status=JOB_DONE, response=response, finished_at=now)
    )
    return 1 if marked.rowcount else 0


def count_answers(
    conn: Connection, batch_id: int, added: int, *, task_id: int | None = None,
    owner: str | None = None,
) -> int | None:
    """Add `added` to the batch's jobs done and answer the total.

    With `task_id` and `owner`, only while `owner` drives the batch: None otherwise (the
    caller must then roll back).
    """
    condition = [batches.c.id == batch_id]
    if task_id is not None and owner is not None:
        condition.append(_driving(task_id, owner))
    done = conn.execute(
        update(batches).where(*condition)
        .values(jobs_done=batches.c.jobs_done + added)
        .returning(batches.c.jobs_done)
    ).scalar_one_or_none()
    return None if done is None else int(done)


def record_job(
    conn: Connection, *, batch_id: int, job_id: int, response: Any, now: datetime,
    task_id: int | None = None, owner: str | None = None,
) -> int | None:
    """Keep a job's response and count it done; answers the batch's jobs done (None if
    `owner` no longer drives the batch, see count_answers)."""
    added = answer_job(conn, job_id, response, now)
    return count_answers(conn, batch_id, added, task_id=task_id, owner=owner)


def defer_flush(conn: Connection) -> None:
    """On PostgreSQL, let this transaction's commit return before its WAL is flushed.

    For a job's change and answer, committed together: a crash of PostgreSQL itself (not of
    runplane) may lose the last fraction of a second of them, both at once, and the resumed
    batch then does those jobs again, consistently. It halves what a job costs there. The
    transaction that ends a batch and queues its callback never uses it.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL synchronous_commit TO OFF"))


def finish(conn: Connection, batch_id: int, now: datetime) -> None:
    conn.execute(
        update(batches).where(batches.c.id == batch_id)
        .values(status=FINISHED, finished_at=now)
    )


def restart(conn: Connection, batch_id: int, run_id: int) -> None:
    """Forget every job's answer and hand the batch to a new driver run."""
    conn.execute(
        update(batch_jobs).where(batch_jobs.c.batch_id == batch_id).values(
            status=JOB_PENDING, response=None, run_id=None, started_at=None, finished_at=None,
        )
    )
    conn.execute(
        update(batches).where(batches.c.id == batch_id).values(
            status=PENDING, run_id=run_id, jobs_done=0, started_at=None, finished_at=None,
            error=None,
        )
    )


def prune(conn: Connection, *, before: datetime) -> int:
    """Delete batches finished before `before`, their jobs and their driver runs."""
    expired = conn.execute(
        select(batches.c.id, batches.c.run_id)
        .where(batches.c.status == FINISHED, batches.c.finished_at < before)
    ).all()
    if not expired:
        return 0
    run_ids = [row.run_id for row in expired if row.run_id is not None]
    conn.execute(delete(batches).where(batches.c.id.in_([row.id for row in expired])))
    if run_ids:
        conn.execute(delete(runs).where(runs.c.id.in_(run_ids), runs.c.kind == BATCH_RUN))
    return len(expired)
