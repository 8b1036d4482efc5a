"""The records an outbox entry keeps: read from what just ended, kept as JSON, read back.

A record is taken in the transaction that ends its subject, so it says what the subject was
then (a batch restarted later, or a run deleted, does not change a pending callback). Which
of its facts a callback shows, and under which names, is the delivery side's business.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, select

from runplane.model import RunKind, TaskOutput
from runplane.model.callbacks import (
    AnsweredJob,
    BatchReport,
    CallbackRecord,
    Rendered,
    RunReport,
    TargetStatus,
)
from runplane.store.batches import jobs_of
from runplane.store.tables import instances, runs, scripts, tasks

RUN_SUBJECT = "run"
BATCH_SUBJECT = "batch"
# The stored document of a record is {RECORD: {...}}; a document without it is a body
# rendered by an earlier version (or given as is), sent unchanged.
RECORD = "record"

_FIRST_TASK = and_(tasks.c.run_id == runs.c.id, tasks.c.position == 0)
_RUN_ENDED = (
    select(
        runs.c.id, runs.c.kind, runs.c.instance_id, runs.c.callback_url, runs.c.status,
        runs.c.runtime, runs.c.number, runs.c.created_at, runs.c.started_at,
        runs.c.finished_at, runs.c.duration_ms, runs.c.tasks_total, runs.c.tasks_failed,
        runs.c.error, instances.c.name.label("instance_name"),
        scripts.c.number.label("script_number"), tasks.c.status.label("task_status"),
        tasks.c.exit_code, tasks.c.stdout, tasks.c.stderr, tasks.c.output_truncated,
        tasks.c.duration_ms.label("task_duration_ms"), tasks.c.error.label("task_error"),
        tasks.c.result, tasks.c.target,
    )
    .select_from(
        runs.join(instances, instances.c.id == runs.c.instance_id)
        .outerjoin(scripts, scripts.c.id == runs.c.script_id)
        .outerjoin(tasks, _FIRST_TASK)
    )
)


def run_report(conn: Connection, run_id: int) -> tuple[int, str, RunReport] | None:
    """The ended run's instance id, callback URL and record; None if it has no callback."""
    row = conn.execute(_RUN_ENDED.where(runs.c.id == run_id)).first()
    if row is None or not row.callback_url:
        return None
    output = None
    if row.tasks_total == 1:
        output = TaskOutput(
            status=row.task_status or row.status, exit_code=row.exit_code, stdout=row.stdout,
            stderr=row.stderr, output_truncated=bool(row.output_truncated),
            duration_ms=row.task_duration_ms, error=row.task_error, result=row.result,
            target=row.target,
        )
    report = RunReport(
        run_id=row.id, kind=row.kind, instance=row.instance_name, status=row.status,
        runtime=row.runtime, script_number=row.script_number, number=row.number,
        created_at=row.created_at, started_at=row.started_at, finished_at=row.finished_at,
        duration_ms=row.duration_ms, tasks_total=row.tasks_total,
        tasks_failed=row.tasks_failed, error=row.error, output=output,
        targets=_targets(conn, run_id) if row.kind == RunKind.SERVICE else None,
    )
    return row.instance_id, row.callback_url, report


def _targets(conn: Connection, run_id: int) -> tuple[TargetStatus, ...]:
    query = (select(tasks.c.target, tasks.c.status).where(tasks.c.run_id == run_id)
             .order_by(tasks.c.position))
    return tuple(TargetStatus(row.target, row.status) for row in conn.execute(query)
                 if row.target is not None)


def batch_report(conn: Connection, batch_id: int, async_id: str) -> BatchReport:
    return BatchReport(async_id=async_id, jobs=tuple(
        AnsweredJob(job.namespace, job.action, job.params, job.response)
        for job in jobs_of(conn, batch_id)
    ))


# Kept as JSON ------------------------------------------------------------------------------

_RUN_TIMES = ("created_at", "started_at", "finished_at")


def encode(record: CallbackRecord) -> Any:
    """The JSON document the outbox keeps for `record` (values are not copied)."""
    if isinstance(record, Rendered):
        return record.body
    if isinstance(record, BatchReport):
        return {RECORD: {"async_id": record.async_id, "jobs": [
            {"namespace": job.namespace, "action": job.action, "params": job.params,
             "response": job.response} for job in record.jobs
        ]}}
    kept = _shallow(record)
    for name in _RUN_TIMES:
        moment = kept[name]
        kept[name] = moment.isoformat() if moment is not None else None
    if record.output is not None:
        kept["output"] = _shallow(record.output)
    if record.targets is not None:
        kept["targets"] = [[item.target, item.status] for item in record.targets]
    return {RECORD: kept}


def _shallow(record: RunReport | TaskOutput) -> dict[str, Any]:
    return {field.name: getattr(record, field.name) for field in fields(record)}


def decode(subject: str, document: Any) -> CallbackRecord:
    """The record kept as `document` for an entry about `subject`."""
    if not (isinstance(document, dict) and document.keys() == {RECORD}):
        return Rendered(document)
    kept = dict(document[RECORD])
    if subject == BATCH_SUBJECT:
        return BatchReport(async_id=kept["async_id"],
                           jobs=tuple(AnsweredJob(**job) for job in kept["jobs"]))
    if subject == RUN_SUBJECT:
        for name in _RUN_TIMES:
            kept[name] = _moment(kept[name])
        if kept["output"] is not None:
            kept["output"] = TaskOutput(**kept["output"])
        if kept["targets"] is not None:
            kept["targets"] = tuple(TargetStatus(*item) for item in kept["targets"])
        return RunReport(**kept)
    return Rendered(document)


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None
