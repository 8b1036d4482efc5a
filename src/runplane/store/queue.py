"""The queue: tasks are rows; workers claim them with a lease, renew it, and record results.

A claim is one UPDATE .. RETURNING over the oldest queued tasks. On PostgreSQL the candidate
rows are locked with FOR UPDATE SKIP LOCKED, so concurrent claimers never block on or take the
same row; on SQLite the write transaction is BEGIN IMMEDIATE, which serialises claimers.
A task whose lease expired (its worker died) goes back to the queue until it has used up
its attempts; then it fails with a clear error.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Integer, Select, bindparam, case, func, select, update

from runplane.store import notify, outbox, run_logs
from runplane.store.prebuilt import bound_values, values_of
from runplane.store.records import (
    ABORTED,
    FAILURE,
    PENDING,
    PROCESSING,
    QUEUED,
    RUNNING,
    SUCCESS,
    ClaimedTask,
    Run,
    ScriptSpec,
    ServiceSpec,
    TaskOutput,
    TaskResult,
)
from runplane.store.runs import RUN_COLUMNS, run_from_row
from runplane.store.tables import instances, runs, scripts, services, tasks

LOST_WORKER_ERROR = (
    "runplane: the worker running this task stopped responding {attempts} time(s) "
    "(its lease expired each time); giving up."
)


@dataclass(frozen=True)
class FinishedRun:
    run_id: int
    status: str
    # The run as it ended (with its output, for a single-task run): who waited for it need
    # not read it again.
    run: Run | None = None


@dataclass(frozen=True)
class StopOutcome:
    aborted: list[str | None]  # targets that had not started: aborted now
    stopping: list[str | None]  # targets running now: their workers kill them
    finished_run: FinishedRun | None


@dataclass(frozen=True)
class Recorded:
    """The outcome of recording a task's result."""

    # False when the caller had lost the lease: the result was dropped.
    accepted: bool
    # The run, when this was its last task.
    finished_run: FinishedRun | None = None


def _locked(query: Select[Any], conn: Connection) -> Select[Any]:
    if conn.dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


# On PostgreSQL claims are serialised by this transaction-scoped advisory lock, so the
# concurrency limits below are exact across every worker process (claims are short).
PG_CLAIM_LOCK = 7_215_003_002
# How many queued tasks one claim looks at to fill its slots around the limits.
CANDIDATE_WINDOW = 8


# The claim's statements are built once, with bound parameters: building and hashing a
# statement costs far more Python time than SQLite takes to run it.
_RUNNING = (
    select(tasks.c.run_id, func.count().label("running"))
    .where(tasks.c.status == RUNNING)
    .group_by(tasks.c.run_id)
    .subquery()
)
# (run_id, instance_id, max_parallel, running) for every run with running tasks.
_RUNNING_COUNTS = select(
    _RUNNING.c.run_id, runs.c.instance_id, runs.c.max_parallel, _RUNNING.c.running
).select_from(_RUNNING.join(runs, runs.c.id == _RUNNING.c.run_id))


@functools.cache
def _candidates(skip_runs: bool, skip_instances: bool, one_run: bool) -> Select[Any]:
    """The oldest queued tasks of some kinds (of one run), but for those of blocked runs or
    instances."""
    query = (
        select(tasks.c.id, tasks.c.run_id, runs.c.instance_id, runs.c.max_parallel)
        .select_from(tasks.join(runs, runs.c.id == tasks.c.run_id))
        .where(tasks.c.status == QUEUED, tasks.c.available_at <= bindparam("now"),
               runs.c.kind.in_(bindparam("kinds", expanding=True)))
        .order_by(tasks.c.id)
        .limit(bindparam("window", type_=Integer))
    )
    if skip_runs:
        query = query.where(tasks.c.run_id.not_in(bindparam("blocked_runs", expanding=True)))
    if skip_instances:
        query = query.where(
            runs.c.instance_id.not_in(bindparam("blocked_instances", expanding=True))
        )
    if one_run:
        query = query.where(tasks.c.run_id == bindparam("run_id"))
    return query


_LEASE_CHOSEN = (
    update(tasks)
    # Re-checked under the row lock: a stop may have aborted a candidate meanwhile.
    .where(tasks.c.id.in_(bindparam("chosen", expanding=True)), tasks.c.status == QUEUED)
    .values(
        status=RUNNING, lease_owner=bindparam("owner"),
        lease_expires_at=bindparam("lease_until"), attempts=tasks.c.attempts + 1,
        started_at=bindparam("now"),
    )
    .returning(tasks.c.id, tasks.c.run_id, tasks.c.attempts, tasks.c.target,
               tasks.c.target_data)
)
_LEASE_FIRST = (
    update(tasks)
    .where(tasks.c.run_id == bindparam("new_run"), tasks.c.status == QUEUED,
           tasks.c.position < bindparam("count"))
    .values(
        status=RUNNING, lease_owner=bindparam("owner"),
        lease_expires_at=bindparam("lease_until"), attempts=tasks.c.attempts + 1,
        started_at=bindparam("now"),
    )
    .returning(tasks.c.id, tasks.c.run_id, tasks.c.attempts, tasks.c.target,
               tasks.c.target_data)
)
_RUNS_STARTED = (
    update(runs)
    .where(runs.c.id.in_(bindparam("run_ids", expanding=True)), runs.c.status == PENDING)
    .values(status=PROCESSING, started_at=bindparam("now"))
)
_PG_CLAIM_LOCK = select(func.pg_advisory_xact_lock(PG_CLAIM_LOCK))


def claim(conn: Connection, **given: Any) -> list[ClaimedTask]:
    """`claim_tasks`' tasks alone."""
    return claim_tasks(conn, **given).tasks


@dataclass(frozen=True)
class Claimed:
    tasks: list[ClaimedTask]
    # Queued tasks may have been passed over for a run's or an instance's limit: once a
    # running one ends, claiming again may find them runnable.
    held_back: bool


def claim_tasks(
    conn: Connection,
    *,
    owner: str,
    limit: int,
    now: datetime,
    lease_until: datetime,
    kinds: tuple[str, ...] = ("script", "service"),
    instance_limit: int | None = None,
    run_id: int | None = None,
) -> Claimed:
    """Lease up to `limit` of the oldest runnable tasks of `kinds` (of run `run_id` only, if
    given) to `owner`.

    A task is runnable when its run has fewer running tasks than its `max_parallel` and its
    instance fewer than `instance_limit`; others stay queued (their run stays pending).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(_PG_CLAIM_LOCK)
    run_room: dict[int, int] = {}
    instance_room: dict[int, int] = {}
    for row in conn.execute(_RUNNING_COUNTS):
        if row.max_parallel is not None:
            run_room[row.run_id] = row.max_parallel - row.running
        if instance_limit:
            instance_room[row.instance_id] = (
                instance_room.get(row.instance_id, instance_limit) - row.running
            )
    blocked_runs = [run for run, room in run_room.items() if room <= 0]
    blocked_instances = [instance for instance, room in instance_room.items() if room <= 0]
    candidates = conn.execute(
        _candidates(bool(blocked_runs), bool(blocked_instances), run_id is not None),
        {"now": now, "kinds": list(kinds), "window": limit * CANDIDATE_WINDOW,
         "blocked_runs": blocked_runs, "blocked_instances": blocked_instances,
         "run_id": run_id},
    ).all()
    chosen: list[int] = []
    held_back = bool(blocked_runs or blocked_instances)
    for row in candidates:
        room = run_room.get(row.run_id, row.max_parallel)
        space = instance_room.get(row.instance_id, instance_limit) if instance_limit else None
        if (room is not None and room <= 0) or (space is not None and space <= 0):
            held_back = True
            continue
        chosen.append(row.id)
        if room is not None:
            run_room[row.run_id] = room - 1
        if space is not None:
            instance_room[row.instance_id] = space - 1
        if len(chosen) == limit:
            break
    if not chosen:
        return Claimed([], held_back)
    claimed = conn.execute(_LEASE_CHOSEN, {
        "chosen": chosen, "owner": owner, "lease_until": lease_until, "now": now,
    }).all()
    run_ids = sorted({row.run_id for row in claimed})
    conn.execute(_RUNS_STARTED, {"run_ids": run_ids, "now": now})
    specs = {row.run_id: row for row in conn.execute(_SPECS, {"run_ids": run_ids})}
    return Claimed([_claimed(row, specs[row.run_id])
                    for row in sorted(claimed, key=lambda r: r.id)], held_back)


def claim_new_run(conn: Connection, *, run_id: int, owner: str, count: int, now: datetime,
                  lease_until: datetime) -> list[ClaimedTask]:
    """Lease the first `count` tasks of a run made in this very transaction to `owner`.

    Nothing of a new run is running yet, so its own limit is `count` (the caller keeps it
    within max_parallel) and no candidates need to be looked for. An instance limit does
    need the running counts: use `claim` with `run_id` then.
    """
    claimed = conn.execute(_LEASE_FIRST, {
        "new_run": run_id, "count": count, "owner": owner, "lease_until": lease_until,
        "now": now,
    }).all()
    if not claimed:
        return []
    conn.execute(_RUNS_STARTED, {"run_ids": [run_id], "now": now})
    [spec] = conn.execute(_SPECS, {"run_ids": [run_id]}).all()
    return [_claimed(row, spec) for row in sorted(claimed, key=lambda r: r.id)]


def _specs_query() -> Select[Any]:
    """What executing a task of these runs needs: the run, its instance, script, service."""
    script_id = func.coalesce(runs.c.script_id, services.c.script_id)
    return (
        select(
            runs.c.id.label("run_id"), runs.c.kind, runs.c.payload, runs.c.meta,
            runs.c.instance_id, instances.c.name.label("instance_name"),
            instances.c.config.label("instance_config"),
            scripts.c.id.label("script_id"), scripts.c.source, scripts.c.runtime_name,
            scripts.c.config.label("script_config"),
            services.c.id.label("service_id"), services.c.name.label("service_name"),
            services.c.type.label("service_type"), services.c.source_code,
            services.c.command, services.c.timeout.label("service_timeout"),
            services.c.run_method,
        )
        .select_from(
            runs.join(instances, runs.c.instance_id == instances.c.id)
            .outerjoin(services, runs.c.service_id == services.c.id)
            .outerjoin(scripts, scripts.c.id == script_id)
        )
        .where(runs.c.id.in_(bindparam("run_ids", expanding=True)))
    )


_SPECS = _specs_query()


def _claimed(task: Any, spec: Any) -> ClaimedTask:
    script = None
    if spec.script_id is not None:
        script = ScriptSpec(
            runtime_name=spec.runtime_name, source=spec.source, config=spec.script_config
        )
    service = None
    if spec.service_id is not None:
        service = ServiceSpec(
            name=spec.service_name, type=spec.service_type, source_code=spec.source_code,
            command=spec.command, timeout=spec.service_timeout, run_method=spec.run_method,
        )
    return ClaimedTask(
        task_id=task.id, run_id=task.run_id, kind=spec.kind, attempt=task.attempts,
        instance_id=spec.instance_id, instance_name=spec.instance_name,
        instance_config=spec.instance_config, payload=spec.payload, meta=spec.meta,
        target=task.target, target_data=task.target_data, script=script, service=service,
    )


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


_CURRENT = (
    select(tasks.c.run_id, tasks.c.target, tasks.c.retries_left, tasks.c.retry_delay,
           runs.c.stop_requested)
    .select_from(tasks.join(runs, runs.c.id == tasks.c.run_id))
    .where(tasks.c.id == bindparam("task_id"), tasks.c.status == RUNNING)
)
_RUNNING_TASK = _CURRENT
_LEASED_TASK = _CURRENT.where(tasks.c.lease_owner == bindparam("owner"))
_TASK_ENDED = (
    update(tasks)
    .where(tasks.c.id == bindparam("task_id"), tasks.c.status == RUNNING)
    .values({
        **bound_values(tasks, "status", "exit_code", "stdout", "stderr", "output_truncated",
                       "started_at", "finished_at", "duration_ms", "error", "result"),
        "lease_owner": None, "lease_expires_at": None,
    })
    .returning(tasks.c.run_id, tasks.c.target)
)
_LEASED_TASK_ENDED = _TASK_ENDED.where(tasks.c.lease_owner == bindparam("owner"))
_TASKS_COUNTED = (
    update(runs)
    .where(runs.c.id == bindparam("run_id"))
    .values(tasks_done=runs.c.tasks_done + bindparam("done"),
            tasks_failed=runs.c.tasks_failed + bindparam("failed"))
    .returning(runs.c.tasks_done, runs.c.tasks_total, runs.c.tasks_failed,
               runs.c.started_at, runs.c.stop_requested)
)
_RUN_ENDED = (
    update(runs)
    .where(runs.c.id == bindparam("run_id"))
    .values(bound_values(runs, "status", "finished_at", "duration_ms", "error"))
    .returning(*RUN_COLUMNS)
)


def finish_task(
    conn: Connection, *, task_id: int, owner: str | None, result: TaskResult
) -> Recorded:
    """Record a task's result, and end its run if this was the run's last task.

    A failed task with retries left (a service's number_of_retries) goes back to the queue,
    to be claimed again after its retry delay, unless its run is being stopped.
    When `owner` no longer holds the lease (the task was reaped and may be running
    elsewhere) the result is dropped, since another attempt owns the task.
    """
    parameters = {"task_id": task_id, "owner": owner}
    if result.status not in (SUCCESS, ABORTED):  # it may have a retry left
        current = conn.execute(
            _RUNNING_TASK if owner is None else _LEASED_TASK, parameters
        ).first()
        if current is None:
            return Recorded(accepted=False)
        if current.retries_left > 0 and not current.stop_requested:
            _log(conn, current.run_id, current.target, task_id, result)
            _retry(conn, task_id, current, result)
            return Recorded(accepted=True)
    # The lease is checked by the update itself: no row, not ours (any more).
    ended = conn.execute(_TASK_ENDED if owner is None else _LEASED_TASK_ENDED, {
        **parameters, **values_of(
            status=result.status, exit_code=result.exit_code, stdout=result.stdout,
            stderr=result.stderr, output_truncated=result.output_truncated,
            started_at=result.started_at, finished_at=result.finished_at,
            duration_ms=result.duration_ms, error=result.error, result=result.value,
        ),
    }).first()
    if ended is None:
        return Recorded(accepted=False)
    _log(conn, ended.run_id, ended.target, task_id, result)
    failed = 1 if result.status != SUCCESS else 0
    finished = _count_done(
        conn, ended.run_id, done=1, failed=failed, at=result.finished_at, last=result
    )
    return Recorded(accepted=True, finished_run=finished)


def _log(conn: Connection, run_id: int, target: str | None, task_id: int,
         result: TaskResult) -> None:
    run_logs.append(conn, run_id, result.logs, task_id=task_id, source=target or "",
                    now=result.finished_at)


def _retry(conn: Connection, task_id: int, current: Any, result: TaskResult) -> None:
    delay = float(current.retry_delay or 0)
    run_logs.append(conn, current.run_id, [{
        "severity": "warning",
        "message": f"{result.status}; retrying in {delay:g} s "
                   f"({current.retries_left} retr{'y' if current.retries_left == 1 else 'ies'} "
                   f"left): {result.error or ''}".rstrip(": "),
    }], task_id=task_id, source=current.target or "", now=result.finished_at)
    conn.execute(
        update(tasks)
        .where(tasks.c.id == task_id)
        .values(
            status=QUEUED, lease_owner=None, lease_expires_at=None, attempts=0,
            retries_left=tasks.c.retries_left - 1, result=result.value, error=result.error,
            available_at=result.finished_at + timedelta(seconds=delay),
        )
    )


def _count_done(
    conn: Connection,
    run_id: int,
    *,
    done: int,
    failed: int,
    at: datetime,
    last: TaskResult | None = None,
) -> FinishedRun | None:
    """Count `done` tasks of the run as ended; end the run when none is left."""
    counts = conn.execute(
        _TASKS_COUNTED, {"run_id": run_id, "done": done, "failed": failed}
    ).one()
    if counts.tasks_done < counts.tasks_total:
        return None
    single = counts.tasks_total == 1 and last is not None
    if counts.stop_requested:
        status = ABORTED
    elif single:
        assert last is not None
        status = last.status
    else:
        status = FAILURE if counts.tasks_failed else SUCCESS
    if single:
        assert last is not None
        duration_ms, error = last.duration_ms, last.error
    else:
        began = counts.started_at or at
        duration_ms, error = max(0, int((at - began).total_seconds() * 1000)), None
    return _end_run(
        conn, run_id, status=status, finished_at=at, duration_ms=duration_ms, error=error,
        output=task_output(last) if single and last is not None else None,
    )


def _end_run(
    conn: Connection, run_id: int, *, status: str, finished_at: datetime,
    duration_ms: int, error: str | None, output: TaskOutput | None = None,
) -> FinishedRun:
    """The one place a run becomes final (anything that must happen with it belongs here)."""
    run = run_from_row(conn.execute(_RUN_ENDED, {"run_id": run_id, **values_of(
        status=status, finished_at=finished_at, duration_ms=duration_ms, error=error,
    )}).one(), output=output)
    if run.callback_url:
        # A run's callback is written with its end, so a crash cannot part the two.
        outbox.insert_run_callback(conn, run_id, finished_at)
    notify.run_ended(conn, run_id)
    return FinishedRun(run_id=run_id, status=status, run=run)


def task_output(result: TaskResult) -> TaskOutput:
    """What a trace shows of its task, as recorded from `result`."""
    return TaskOutput(
        status=result.status, exit_code=result.exit_code, stdout=result.stdout,
        stderr=result.stderr, output_truncated=result.output_truncated,
        duration_ms=result.duration_ms, error=result.error,
    )


def request_stop(conn: Connection, run_id: int, *, now: datetime) -> StopOutcome:
    """Mark the run stopped and abort its queued tasks now; running ones are the workers'."""
    conn.execute(update(runs).where(runs.c.id == run_id).values(stop_requested=True))
    aborted = conn.execute(
        update(tasks)
        .where(tasks.c.run_id == run_id, tasks.c.status == QUEUED)
        .values(status=ABORTED, finished_at=now, error="Aborted: the run was stopped.",
                duration_ms=0)
        .returning(tasks.c.target)
    ).all()
    running = conn.execute(
        select(tasks.c.target).where(tasks.c.run_id == run_id, tasks.c.status == RUNNING)
    ).all()
    finished = None
    if aborted:
        finished = _count_done(conn, run_id, done=len(aborted), failed=len(aborted), at=now)
    return StopOutcome(
        aborted=[row.target for row in aborted],
        stopping=[row.target for row in running],
        finished_run=finished,
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


def release(conn: Connection, *, owner: str, now: datetime) -> int:
    """Give back every task `owner` holds, without counting the attempt (clean shutdown)."""
    result = conn.execute(
        update(tasks)
        .where(tasks.c.lease_owner == owner, tasks.c.status == RUNNING)
        .values(
            status=QUEUED, lease_owner=None, lease_expires_at=None, available_at=now,
            attempts=case((tasks.c.attempts > 0, tasks.c.attempts - 1), else_=0),
        )
    )
    return int(result.rowcount or 0)
