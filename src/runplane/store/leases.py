"""Leases: a worker renews the leases of the tasks it runs, and looks for those whose run
was asked to stop. A task whose lease expired (its worker died) goes back to the queue until
it has used up its attempts; then it fails with a clear error. On PostgreSQL the reaper locks
the expired rows with FOR UPDATE SKIP LOCKED, so two reapers never take the same row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, bindparam, select, update

from runplane.model import FAILURE, QUEUED, RUNNING, TaskResult
from runplane.store import notify
from runplane.store.queue import FinishedRun, finish_task
from runplane.store.tables import runs, tasks

LOST_WORKER_ERROR = (
    "runplane: the worker running this task stopped responding {attempts} time(s) "
    "(its lease expired each time); giving up."
)


def _locked(query: Select[Any], conn: Connection) -> Select[Any]:
    if conn.dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


def renew_leases(conn: Connection, *, owner: str, task_ids: Sequence[int],
                 lease_until: datetime) -> int:
    """Extend the leases `owner` holds on `task_ids` (the tasks it is running: a lease it
    holds on anything else, it has lost track of, and that one must expire); answers how
    many it still holds."""
    if not task_ids:
        return 0
    result = conn.execute(_RENEW, {"owner": owner, "task_ids": list(task_ids),
                                   "lease_until": lease_until})
    return int(result.rowcount or 0)


_RENEW = (
    update(tasks)
    .where(tasks.c.lease_owner == bindparam("owner"), tasks.c.status == RUNNING,
           tasks.c.id.in_(bindparam("task_ids", expanding=True)))
    .values(lease_expires_at=bindparam("lease_until"))
)


def stopped_tasks(conn: Connection, *, owner: str) -> list[int]:
    """Tasks `owner` is running whose run was asked to stop."""
    query = (
        select(tasks.c.id)
        .select_from(tasks.join(runs, runs.c.id == tasks.c.run_id))
        .where(tasks.c.lease_owner == owner, tasks.c.status == RUNNING,
               runs.c.stop_requested.is_(True))
    )
    return [row.id for row in conn.execute(query).all()]


def requeue_expired(conn: Connection, *, now: datetime) -> int:
    """Put tasks whose lease expired back in the queue, if they have attempts left."""
    expired = _locked(
        select(tasks.c.id).where(
            tasks.c.status == RUNNING,
            tasks.c.lease_expires_at < now,
            tasks.c.attempts < tasks.c.max_attempts,
        ),
        conn,
    )
    result = conn.execute(
        update(tasks)
        .where(tasks.c.id.in_(expired.scalar_subquery()))
        .values(status=QUEUED, lease_owner=None, lease_expires_at=None, available_at=now)
    )
    if result.rowcount:
        notify.work_queued(conn)
    return int(result.rowcount or 0)


def fail_exhausted(conn: Connection, *, now: datetime) -> list[FinishedRun]:
    """Fail tasks whose lease expired on their last attempt; answers the runs that ended."""
    exhausted = conn.execute(_locked(
        select(tasks.c.id, tasks.c.attempts, tasks.c.started_at).where(
            tasks.c.status == RUNNING,
            tasks.c.lease_expires_at < now,
            tasks.c.attempts >= tasks.c.max_attempts,
        ),
        conn,
    )).all()
    finished: list[FinishedRun] = []
    for row in exhausted:
        began = row.started_at or now
        outcome = finish_task(conn, task_id=row.id, owner=None, result=TaskResult(
            status=FAILURE, exit_code=None, stdout="",
            stderr=LOST_WORKER_ERROR.format(attempts=row.attempts), output_truncated=False,
            started_at=began, finished_at=now,
            duration_ms=int((now - began).total_seconds() * 1000),
            error=LOST_WORKER_ERROR.format(attempts=row.attempts),
        ))
        if outcome.finished_run is not None:
            finished.append(outcome.finished_run)
    return finished


def reap(conn: Connection, *, now: datetime) -> tuple[int, list[FinishedRun]]:
    """Expired leases: requeued while attempts are left, failed after; answers how many were
    requeued and the runs that ended."""
    return requeue_expired(conn, now=now), fail_exhausted(conn, now=now)
