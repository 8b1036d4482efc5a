"""Runs and their tasks: creating them in one transaction, and reading them back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, insert, select

from runplane.model import PENDING, QUEUED, Page, Run, TargetOutcome, TaskOutput
from runplane.store import notify
from runplane.store.driver_sql import Prepared
from runplane.store.paging import fetch_page
from runplane.store.prebuilt import bound_values, values_of
from runplane.store.tables import runs, tasks
from runplane.store.types import AnyRow

RUN_COLUMNS = tuple(runs.c[name] for name in (
    "id", "instance_id", "kind", "script_id", "number", "status", "trigger", "payload", "meta",
    "tasks_total", "tasks_done", "tasks_failed", "created_at", "started_at", "finished_at",
    "duration_ms", "error", "runtime", "service_id", "max_parallel", "stop_requested",
    "callback_url",
))
_RUN_NAMES = tuple(column.name for column in RUN_COLUMNS)
_OUTPUT_COLUMNS = (
    tasks.c.status.label("task_status"),
    tasks.c.exit_code,
    tasks.c.stdout,
    tasks.c.stderr,
    tasks.c.output_truncated,
    tasks.c.duration_ms.label("task_duration_ms"),
    tasks.c.error.label("task_error"),
    tasks.c.result.label("task_result"),
    tasks.c.target.label("task_target"),
)


def run_from_row(row: AnyRow, *, output: TaskOutput | None = None) -> Run:
    """A Run from a row holding RUN_COLUMNS."""
    mapping = row._mapping
    return Run(**{name: mapping[name] for name in _RUN_NAMES}, output=output)


def _run(row: AnyRow, with_output: bool = False) -> Run:
    output = None
    if with_output and row.task_status is not None:
        output = TaskOutput(
            status=row.task_status,
            exit_code=row.exit_code,
            stdout=row.stdout,
            stderr=row.stderr,
            output_truncated=bool(row.output_truncated),
            duration_ms=row.task_duration_ms,
            error=row.task_error,
            result=row.task_result,
            target=row.task_target,
        )
    return run_from_row(row, output=output)


def _runs_query(with_output: bool) -> Select[Any]:
    if not with_output:
        return select(*RUN_COLUMNS)
    # A trace shows its first task's output (a script run has exactly one task).
    first_task = and_(tasks.c.run_id == runs.c.id, tasks.c.position == 0)
    return select(*RUN_COLUMNS, *_OUTPUT_COLUMNS).select_from(runs.outerjoin(tasks, first_task))


# What `extra` may set; unset, they are NULL.
_NO_EXTRA = {"runtime": None, "service_id": None, "callback_url": None}
_INSERT_RUN = Prepared(insert(runs).values({
    **bound_values(runs, "instance_id", "kind", "script_id", "number", "status", "trigger",
                   "payload", "meta", "tasks_total", "created_at", "max_parallel", *_NO_EXTRA),
    "tasks_done": 0, "tasks_failed": 0,
}).returning(*RUN_COLUMNS))
_TASK_COLUMNS = ("run_id", "position", "target", "status", "attempts", "max_attempts",
                 "available_at", "created_at", "output_truncated", "target_data",
                 "retries_left", "retry_delay")
_INSERT_TASKS = Prepared(insert(tasks).values(bound_values(tasks, *_TASK_COLUMNS)))


def _run_lookup(*conditions: Any) -> dict[bool, Prepared]:
    """The run (or trace) matching `conditions`, without and with its first task's output."""
    return {with_output: Prepared(_runs_query(with_output).where(*conditions))
            for with_output in (False, True)}


_RUN_BY_ID = _run_lookup(runs.c.id == bindparam("run_id"))
# A trace, by its script and number.
_SCRIPT_RUN = _run_lookup(runs.c.script_id == bindparam("script_id"),
                          runs.c.number == bindparam("number"))


def insert_run(
    conn: Connection,
    *,
    instance_id: int,
    kind: str,
    script_id: int | None,
    number: int | None,
    trigger: str,
    payload: Any,
    meta: dict[str, Any],
    targets: Sequence[str | None],
    max_attempts: int,
    now: datetime,
    max_parallel: int | None = None,
    target_data: Sequence[dict[str, Any] | None] | None = None,
    extra: dict[str, Any] | None = None,
    retries: int = 0,
    retry_delay: float = 0.0,
) -> Run:
    """The run and one queued task per target, in the caller's transaction.

    `target_data` (one entry per target) is what the executor will see of each target;
    `extra` sets further run columns (runtime, service_id, callback_url).
    """
    values = {
        **_NO_EXTRA, **(extra or {}),
        "instance_id": instance_id, "kind": kind, "script_id": script_id, "number": number,
        "status": PENDING, "trigger": trigger, "payload": payload, "meta": meta,
        "tasks_total": len(targets), "created_at": now, "max_parallel": max_parallel,
    }
    run = _run(_INSERT_RUN.execute(conn, values_of(**values)).one())
    _INSERT_TASKS.execute_many(conn, [
        values_of(
            run_id=run.id, position=position, target=target, status=QUEUED, attempts=0,
            max_attempts=max_attempts, available_at=now, created_at=now,
            output_truncated=False,
            target_data=target_data[position] if target_data is not None else None,
            retries_left=retries, retry_delay=retry_delay,
        )
        for position, target in enumerate(targets)
    ])
    notify.work_queued(conn)
    return run


def get_run(conn: Connection, run_id: int, *, with_output: bool = False) -> Run | None:
    row = _RUN_BY_ID[with_output].execute(conn, {"run_id": run_id}).first()
    return _run(row, with_output) if row else None


def get_script_run(
    conn: Connection, script_id: int, number: int, *, with_output: bool = True
) -> Run | None:
    parameters = {"script_id": script_id, "number": number}
    row = _SCRIPT_RUN[with_output].execute(conn, parameters).first()
    return _run(row, with_output) if row else None


def list_script_runs(
    conn: Connection,
    script_id: int,
    *,
    after: int | None,
    limit: int,
    descending: bool,
    with_output: bool = True,
) -> Page[Run]:
    query = _runs_query(with_output).where(runs.c.script_id == script_id)
    return fetch_page(
        conn, query, runs.c.number, after=after, limit=limit, descending=descending,
        convert=lambda row: _run(row, with_output),
    )


def get_run_by_runtime(conn: Connection, runtime: str) -> Run | None:
    row = conn.execute(_runs_query(False).where(runs.c.runtime == runtime)).first()
    return _run(row) if row else None


def target_outcomes(conn: Connection, run_id: int) -> list[TargetOutcome]:
    """Every task of the run, in target order, with what it reported."""
    query = (
        select(tasks.c.position, tasks.c.target, tasks.c.status, tasks.c.result,
               tasks.c.exit_code, tasks.c.stdout, tasks.c.stderr, tasks.c.error,
               tasks.c.duration_ms, tasks.c.finished_at)
        .where(tasks.c.run_id == run_id)
        .order_by(tasks.c.position)
    )
    return [TargetOutcome(**dict(row._mapping)) for row in conn.execute(query).all()]
