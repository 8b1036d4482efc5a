"""The queue: tasks are rows; workers claim them with a lease (claims.py), keep it
(leases.py), and record results here: a task's end, its retry, its run's end with the last
of its tasks (and the run's callback, in the same transaction), a stop, a give-back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, case, select, update

from runplane.model import (
    ABORTED,
    FAILURE,
    QUEUED,
    RUNNING,
    SUCCESS,
    Run,
    TaskOutput,
    TaskResult,
)
from runplane.store import notify, outbox, run_logs
from runplane.store.driver_sql import Prepared
from runplane.store.prebuilt import bound_values, values_of
from runplane.store.runs import RUN_COLUMNS, run_from_row
from runplane.store.tables import runs, tasks


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


_CURRENT = (
    select(tasks.c.run_id, tasks.c.target, tasks.c.retries_left, tasks.c.retry_delay,
           runs.c.stop_requested)
    .select_from(tasks.join(runs, runs.c.id == tasks.c.run_id))
    .where(tasks.c.id == bindparam("task_id"), tasks.c.status == RUNNING)
)
# A run's result takes these: on SQLite they run on the driver (see driver_sql.py).
_RUNNING_TASK = Prepared(_CURRENT)
_LEASED_TASK = Prepared(_CURRENT.where(tasks.c.lease_owner == bindparam("owner")))
_ENDED = (
    update(tasks)
    .where(tasks.c.id == bindparam("task_id"), tasks.c.status == RUNNING)
    .values({
        **bound_values(tasks, "status", "exit_code", "stdout", "stderr", "output_truncated",
                       "started_at", "finished_at", "duration_ms", "error", "result"),
        "lease_owner": None, "lease_expires_at": None,
    })
    .returning(tasks.c.run_id, tasks.c.target)
)
_TASK_ENDED = Prepared(_ENDED)
_LEASED_TASK_ENDED = Prepared(_ENDED.where(tasks.c.lease_owner == bindparam("owner")))
_TASKS_COUNTED = Prepared(
    update(runs)
    .where(runs.c.id == bindparam("run_id"))
    .values(tasks_done=runs.c.tasks_done + bindparam("done"),
            tasks_failed=runs.c.tasks_failed + bindparam("failed"))
    .returning(runs.c.tasks_done, runs.c.tasks_total, runs.c.tasks_failed,
               runs.c.started_at, runs.c.stop_requested)
)
# A run of one task, ended by its task's end (the status is the task's, or "aborted" if the
# run was being stopped); no row when the run has other tasks.
_SINGLE_RUN_ENDED = Prepared(
    update(runs)
    .where(runs.c.id == bindparam("run_id"), runs.c.tasks_total == 1, runs.c.tasks_done == 0)
    .values({
        **bound_values(runs, "finished_at", "duration_ms", "error"),
        "tasks_done": 1, "tasks_failed": bindparam("failed"),
        "status": case((runs.c.stop_requested.is_(True), ABORTED),
                       else_=bindparam("set_status")),
    })
    .returning(*RUN_COLUMNS)
)
_RUN_ENDED = Prepared(
    update(runs)
    .where(runs.c.id == bindparam("run_id"))
    .values(bound_values(runs, "status", "finished_at", "duration_ms", "error"))
    .returning(*RUN_COLUMNS)
)


@dataclass(frozen=True)
class _Ended:
    """A task recorded as ended: what counting it in its run needs."""

    run_id: int
    target: str | None
    result: TaskResult


def finish_task(
    conn: Connection, *, task_id: int, owner: str | None, result: TaskResult
) -> Recorded:
    """Record a task's result, and end its run if this was the run's last task.

    A failed task with retries left (a service's number_of_retries) goes back to the queue,
    to be claimed again after its retry delay, unless its run is being stopped.
    When `owner` no longer holds the lease (the task was reaped and may be running
    elsewhere) the result is dropped, since another attempt owns the task.
    """
    accepted, ended = _record(conn, task_id, owner, result)
    if ended is None:
        return Recorded(accepted=accepted)
    return Recorded(accepted=True, finished_run=_count_ended(conn, [ended]))


def _record(conn: Connection, task_id: int, owner: str | None, result: TaskResult
            ) -> tuple[bool, _Ended | None]:
    """The result written (or the task queued again for a retry): whether it was accepted,
    and the task to count as ended in its run (None: not ended, or not ours)."""
    parameters = {"task_id": task_id, "owner": owner}
    if result.status not in (SUCCESS, ABORTED):  # it may have a retry left
        current = (_RUNNING_TASK if owner is None else _LEASED_TASK).execute(
            conn, parameters
        ).first()
        if current is None:
            return False, None
        if current.retries_left > 0 and not current.stop_requested:
            _log(conn, current.run_id, current.target, task_id, result)
            _retry(conn, task_id, current, result)
            return True, None
    # The lease is checked by the update itself: no row, not ours (any more).
    ended = (_TASK_ENDED if owner is None else _LEASED_TASK_ENDED).execute(conn, {
        **parameters, **values_of(
            status=result.status, exit_code=result.exit_code, stdout=result.stdout,
            stderr=result.stderr, output_truncated=result.output_truncated,
            started_at=result.started_at, finished_at=result.finished_at,
            duration_ms=result.duration_ms, error=result.error, result=result.value,
        ),
    }).first()
    if ended is None:
        return False, None
    _log(conn, ended.run_id, ended.target, task_id, result)
    return True, _Ended(ended.run_id, ended.target, result)


def _count_ended(conn: Connection, ended: Sequence[_Ended], *, lone: bool = True
                 ) -> FinishedRun | None:
    """Count tasks of one run as ended, in one statement; the run, if they were its last.
    `lone` False: the caller knows the run has other tasks (no one-task end is tried)."""
    last = ended[-1]
    failed = sum(1 for item in ended if item.result.status != SUCCESS)
    at = max(item.result.finished_at for item in ended)
    single = len(ended) == 1
    return _count_done(conn, last.run_id, done=len(ended), failed=failed, at=at,
                       last=last.result if single else None,
                       target=last.target if single else None, lone=lone and single)


def _log(conn: Connection, run_id: int, target: str | None, task_id: int,
         result: TaskResult) -> None:
    run_logs.append(conn, run_id, result.logs, task_id=task_id, source=target or "",
                    now=result.finished_at)


def failure_reason(result: TaskResult) -> str:
    """Why an attempt failed, in a line: runplane's explanation, else the last line the
    code wrote to stderr (an uncaught exception's), else its exit code."""
    if result.error:
        return result.error
    lines = [line.strip() for line in (result.stderr or "").splitlines() if line.strip()]
    if lines:
        return lines[-1]
    return f"exit code {result.exit_code}" if result.exit_code is not None else ""


def _retry(conn: Connection, task_id: int, current: Any, result: TaskResult) -> None:
    delay = float(current.retry_delay or 0)
    left = current.retries_left
    run_logs.append(conn, current.run_id, [{
        "severity": "warning",
        "message": f"{result.status}; retrying in {delay:g} s "
                   f"({left} retr{'y' if left == 1 else 'ies'} left): "
                   f"{failure_reason(result)}".rstrip(": "),
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
    target: str | None = None,
    lone: bool = True,
) -> FinishedRun | None:
    """Count `done` tasks of the run as ended; end the run when none is left."""
    if lone and done == 1 and last is not None:  # a script run's usual end: one statement
        row = _SINGLE_RUN_ENDED.execute(conn, {"run_id": run_id, "failed": failed, **values_of(
            status=last.status, finished_at=at, duration_ms=last.duration_ms,
            error=last.error,
        )}).first()
        if row is not None:
            return _ended(conn, run_from_row(row, output=task_output(last, target)))
    counts = _TASKS_COUNTED.execute(
        conn, {"run_id": run_id, "done": done, "failed": failed}
    ).one()
    if counts.tasks_done < counts.tasks_total:
        return None
    single = counts.tasks_total == 1 and last is not None
    status: str
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
        output=task_output(last, target) if single and last is not None else None,
    )


def _end_run(
    conn: Connection, run_id: int, *, status: str, finished_at: datetime,
    duration_ms: int, error: str | None, output: TaskOutput | None = None,
) -> FinishedRun:
    """The one place a run becomes final (anything that must happen with it belongs in
    `_ended`, which a single-task run's one-statement end calls too)."""
    return _ended(conn, run_from_row(_RUN_ENDED.execute(conn, {"run_id": run_id, **values_of(
        status=status, finished_at=finished_at, duration_ms=duration_ms, error=error,
    )}).one(), output=output))


def _ended(conn: Connection, run: Run) -> FinishedRun:
    """What must happen in the transaction where a run became final."""
    if run.callback_url:
        # A run's callback is written with its end, so a crash cannot part the two.
        assert run.finished_at is not None
        outbox.insert_run_callback(conn, run.id, run.finished_at)
    notify.run_ended(conn, run.id)
    return FinishedRun(run_id=run.id, status=run.status, run=run)


def task_output(result: TaskResult, target: str | None) -> TaskOutput:
    """What a trace shows of its task, as recorded from `result`."""
    return TaskOutput(
        status=result.status, exit_code=result.exit_code, stdout=result.stdout,
        stderr=result.stderr, output_truncated=result.output_truncated,
        duration_ms=result.duration_ms, error=result.error, result=result.value,
        target=target,
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


_GIVE_BACK: dict[str, Any] = {
    "status": QUEUED, "lease_owner": None, "lease_expires_at": None,
    "available_at": bindparam("now"),
    "attempts": case((tasks.c.attempts > 0, tasks.c.attempts - 1), else_=0),
}
_RELEASE_ALL = (
    update(tasks)
    .where(tasks.c.lease_owner == bindparam("owner"), tasks.c.status == RUNNING)
    .values(_GIVE_BACK)
)
_RELEASE_SOME = _RELEASE_ALL.where(tasks.c.id.in_(bindparam("task_ids", expanding=True)))


def release(conn: Connection, *, owner: str, now: datetime,
            task_ids: Sequence[int] | None = None) -> int:
    """Give back the tasks `owner` holds (all, or `task_ids`), without counting the attempt
    (a clean shutdown; the targets of a batch its process never began)."""
    if task_ids is None:
        result = conn.execute(_RELEASE_ALL, {"owner": owner, "now": now})
    elif not task_ids:
        return 0
    else:
        result = conn.execute(_RELEASE_SOME, {"owner": owner, "now": now,
                                              "task_ids": list(task_ids)})
    return int(result.rowcount or 0)


def finish_tasks(conn: Connection, *, owner: str, now: datetime,
                 outcomes: Sequence[tuple[int, TaskResult | None]], lone: bool = True
                 ) -> list[Recorded]:
    """Record the results of several tasks in one transaction (a group's), each run's count
    updated once; a None result gives its task back to the queue (never begun). Answers a
    Recorded per result given (a run's end with the last of its tasks). `lone` False: their
    runs have other tasks."""
    recorded: list[Recorded] = []
    ended_by_run: dict[int, list[_Ended]] = {}
    last_of_run: dict[int, int] = {}
    for task_id, result in outcomes:
        if result is None:
            continue
        accepted, ended = _record(conn, task_id, owner, result)
        recorded.append(Recorded(accepted=accepted))
        if ended is not None:
            ended_by_run.setdefault(ended.run_id, []).append(ended)
            last_of_run[ended.run_id] = len(recorded) - 1
    for run_id, ended_tasks in ended_by_run.items():
        finished = _count_ended(conn, ended_tasks, lone=lone)
        if finished is not None:
            recorded[last_of_run[run_id]] = Recorded(accepted=True, finished_run=finished)
    release(conn, owner=owner, now=now,
            task_ids=[task_id for task_id, result in outcomes if result is None])
    return recorded
