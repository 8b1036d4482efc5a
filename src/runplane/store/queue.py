"""The queue: tasks are rows; workers claim them with a lease, renew it, and record results.

A claim is one UPDATE .. RETURNING over the oldest queued tasks. On PostgreSQL the candidate
rows are locked with FOR UPDATE SKIP LOCKED, so concurrent claimers never block on or take the
same row; on SQLite the write transaction is BEGIN IMMEDIATE, which serialises claimers.
A task whose lease expired (its worker died) goes back to the queue until it has used up
its attempts; then it fails with a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from runplane.store.records import (
    FAILURE,
    PENDING,
    PROCESSING,
    QUEUED,
    RUNNING,
    SUCCESS,
    ClaimedTask,
    TaskResult,
)
from runplane.store.tables import instances, runs, scripts, tasks

LOST_WORKER_ERROR = (
    "runplane: the worker running this task stopped responding {attempts} time(s) "
    "(its lease expired each time); giving up."
)


@dataclass(frozen=True)
class FinishedRun:
    run_id: int
    status: str


@dataclass(frozen=True)
class Recorded:
    """The outcome of recording a task's result."""

    # False when the caller had lost the lease: the result was dropped.
    accepted: bool
    # The run, when this was its last task.
    finished_run: FinishedRun | None = None


def _locked(query: Select[Any], conn: AsyncConnection) -> Select[Any]:
    if conn.dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


async def claim(
    conn: AsyncConnection, *, owner: str, limit: int, now: datetime, lease_until: datetime
) -> list[ClaimedTask]:
    """Lease up to `limit` of the oldest runnable tasks to `owner`, with what they need to run."""
    candidates = _locked(
        select(tasks.c.id)
        .where(tasks.c.status == QUEUED, tasks.c.available_at <= now)
        .order_by(tasks.c.id)
        .limit(limit),
        conn,
    )
    claimed = (await conn.execute(
        update(tasks)
        .where(tasks.c.id.in_(candidates.scalar_subquery()))
        .values(
            status=RUNNING, lease_owner=owner, lease_expires_at=lease_until,
            attempts=tasks.c.attempts + 1, started_at=now,
        )
        .returning(tasks.c.id, tasks.c.run_id, tasks.c.attempts)
    )).all()
    if not claimed:
        return []
    run_ids = sorted({row.run_id for row in claimed})
    await conn.execute(
        update(runs)
        .where(runs.c.id.in_(run_ids), runs.c.status == PENDING)
        .values(status=PROCESSING, started_at=now)
    )
    specs = {
        row.run_id: row
        for row in (await conn.execute(
            select(
                runs.c.id.label("run_id"), runs.c.payload, runs.c.meta, scripts.c.source,
                scripts.c.runtime_name, scripts.c.config.label("script_config"),
                instances.c.config.label("instance_config"),
            )
            .select_from(
                runs.join(scripts, runs.c.script_id == scripts.c.id)
                .join(instances, runs.c.instance_id == instances.c.id)
            )
            .where(runs.c.id.in_(run_ids))
        )).all()
    }
    return [
        ClaimedTask(
            task_id=row.id,
            run_id=row.run_id,
            attempt=row.attempts,
            runtime_name=specs[row.run_id].runtime_name,
            source=specs[row.run_id].source,
            payload=specs[row.run_id].payload,
            script_config=specs[row.run_id].script_config,
            instance_config=specs[row.run_id].instance_config,
            meta=specs[row.run_id].meta,
        )
        for row in sorted(claimed, key=lambda row: row.id)
    ]


async def renew_leases(conn: AsyncConnection, *, owner: str, lease_until: datetime) -> int:
    """Extend every lease `owner` holds; answers how many tasks it still holds."""
    result = await conn.execute(
        update(tasks)
        .where(tasks.c.lease_owner == owner, tasks.c.status == RUNNING)
        .values(lease_expires_at=lease_until)
    )
    return int(result.rowcount or 0)


async def finish_task(
    conn: AsyncConnection, *, task_id: int, owner: str | None, result: TaskResult
) -> Recorded:
    """Record a task's result, and end its run if this was the run's last task.

    When `owner` no longer holds the lease (the task was reaped and may be running
    elsewhere) the result is dropped, since another attempt owns the task.
    """
    condition = [tasks.c.id == task_id, tasks.c.status == RUNNING]
    if owner is not None:
        condition.append(tasks.c.lease_owner == owner)
    row = (await conn.execute(
        update(tasks)
        .where(*condition)
        .values(
            status=result.status, exit_code=result.exit_code, stdout=result.stdout,
            stderr=result.stderr, output_truncated=result.output_truncated,
            started_at=result.started_at, finished_at=result.finished_at,
            duration_ms=result.duration_ms, error=result.error,
            lease_owner=None, lease_expires_at=None,
        )
        .returning(tasks.c.run_id)
    )).first()
    if row is None:
        return Recorded(accepted=False)
    return Recorded(accepted=True, finished_run=await _count_done(conn, row.run_id, result))


async def _count_done(
    conn: AsyncConnection, run_id: int, result: TaskResult
) -> FinishedRun | None:
    failed = result.status != SUCCESS
    counts = (await conn.execute(
        update(runs)
        .where(runs.c.id == run_id)
        .values(
            tasks_done=runs.c.tasks_done + 1,
            tasks_failed=runs.c.tasks_failed + (1 if failed else 0),
        )
        .returning(runs.c.tasks_done, runs.c.tasks_total, runs.c.tasks_failed, runs.c.started_at)
    )).one()
    if counts.tasks_done < counts.tasks_total:
        return None
    if counts.tasks_total == 1:
        status, duration_ms = result.status, result.duration_ms
    else:
        status = FAILURE if counts.tasks_failed else SUCCESS
        began = counts.started_at or result.started_at
        duration_ms = int((result.finished_at - began).total_seconds() * 1000)
    await conn.execute(
        update(runs).where(runs.c.id == run_id).values(
            status=status, finished_at=result.finished_at, duration_ms=duration_ms,
            error=result.error if counts.tasks_total == 1 else None,
        )
    )
    return FinishedRun(run_id=run_id, status=status)


async def requeue_expired(conn: AsyncConnection, *, now: datetime) -> int:
    """Put tasks whose lease expired back in the queue, if they have attempts left."""
    expired = _locked(
        select(tasks.c.id).where(
            tasks.c.status == RUNNING,
            tasks.c.lease_expires_at < now,
            tasks.c.attempts < tasks.c.max_attempts,
        ),
        conn,
    )
    result = await conn.execute(
        update(tasks)
        .where(tasks.c.id.in_(expired.scalar_subquery()))
        .values(status=QUEUED, lease_owner=None, lease_expires_at=None, available_at=now)
    )
    return int(result.rowcount or 0)


async def fail_exhausted(conn: AsyncConnection, *, now: datetime) -> list[FinishedRun]:
    """Fail tasks whose lease expired on their last attempt; answers the runs that ended."""
    exhausted = (await conn.execute(_locked(
        select(tasks.c.id, tasks.c.attempts, tasks.c.started_at).where(
            tasks.c.status == RUNNING,
            tasks.c.lease_expires_at < now,
            tasks.c.attempts >= tasks.c.max_attempts,
        ),
        conn,
    ))).all()
    finished: list[FinishedRun] = []
    for row in exhausted:
        began = row.started_at or now
        outcome = await finish_task(conn, task_id=row.id, owner=None, result=TaskResult(
            status=FAILURE, exit_code=None, stdout="",
            stderr=LOST_WORKER_ERROR.format(attempts=row.attempts), output_truncated=False,
            started_at=began, finished_at=now,
            duration_ms=int((now - began).total_seconds() * 1000),
            error=LOST_WORKER_ERROR.format(attempts=row.attempts),
        ))
        if outcome.finished_run is not None:
            finished.append(outcome.finished_run)
    return finished


async def release(conn: AsyncConnection, *, owner: str, now: datetime) -> int:
    """Give back every task `owner` holds, without counting the attempt (clean shutdown)."""
    result = await conn.execute(
        update(tasks)
        .where(tasks.c.lease_owner == owner, tasks.c.status == RUNNING)
        .values(
            status=QUEUED, lease_owner=None, lease_expires_at=None, available_at=now,
            attempts=case((tasks.c.attempts > 0, tasks.c.attempts - 1), else_=0),
        )
    )
    return int(result.rowcount or 0)
