"""The outbox: callbacks to deliver, leased to a sender like tasks, with every attempt kept.

An entry is written in the transaction that finishes what it reports (a batch, a run), so a
crash can never lose it. A sender claims due entries with a lease; the outcome of an attempt
and the attempt itself are recorded in one statement group, so an entry marked delivered is
never sent again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, or_, select, update
from sqlalchemy.engine import Row

from runplane.clock import iso_z
from runplane.model import SUCCESS
from runplane.store.tables import instances, outbox, outbox_attempts, runs, scripts, tasks

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    instance_id: int
    subject: str
    subject_id: int
    url: str
    body: Any
    status: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None
    last_error: str | None
    # Filled by a claim: the instance's signing secret (None until first made).
    secret: str | None = None


@dataclass(frozen=True)
class Attempt:
    attempted_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None


_COLUMNS = tuple(outbox.c[name] for name in (
    "id", "instance_id", "subject", "subject_id", "url", "body", "status", "attempts",
    "next_attempt_at", "created_at", "delivered_at", "last_error",
))


def _entry(row: Row[Any], secret: str | None = None) -> OutboxEntry:
    return OutboxEntry(
        **{column.name: row._mapping[column.name] for column in _COLUMNS}, secret=secret
    )


def insert_entry(
    conn: Connection, *, instance_id: int, subject: str, subject_id: int, url: str,
    body: Any, now: datetime,
) -> int:
    statement = insert(outbox).values(
        instance_id=instance_id, subject=subject, subject_id=subject_id, url=url, body=body,
        status=PENDING, attempts=0, next_attempt_at=now, created_at=now,
    ).returning(outbox.c.id)
    return int(conn.execute(statement).scalar_one())


def claim_due(
    conn: Connection, *, owner: str, limit: int, now: datetime, lease_until: datetime
) -> list[OutboxEntry]:
    """Lease up to `limit` due entries to `owner` (skipping rows other senders hold)."""
    free = or_(outbox.c.lease_expires_at.is_(None), outbox.c.lease_expires_at < now)
    candidates = (
        select(outbox.c.id)
        .where(outbox.c.status == PENDING, outbox.c.next_attempt_at <= now, free)
        .order_by(outbox.c.next_attempt_at, outbox.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    chosen = list(conn.execute(candidates).scalars())
    if not chosen:
        return []
    conn.execute(
        update(outbox).where(outbox.c.id.in_(chosen))
        .values(lease_owner=owner, lease_expires_at=lease_until)
    )
    query = (
        select(*_COLUMNS, instances.c.webhook_secret)
        .select_from(outbox.join(instances, instances.c.id == outbox.c.instance_id))
        .where(outbox.c.id.in_(chosen))
        .order_by(outbox.c.id)
    )
    return [_entry(row, row.webhook_secret) for row in conn.execute(query).all()]


def record_attempt(
    conn: Connection, *, entry_id: int, owner: str, attempt: Attempt, status: str,
    next_attempt_at: datetime, error: str | None,
) -> None:
    """Keep the attempt and the entry's new state together.

    A delivery is recorded whoever holds the lease (the receiver has it); a retry or a
    give-up only while `owner` still holds it (otherwise another sender owns the entry).
    """
    conn.execute(insert(outbox_attempts).values(
        outbox_id=entry_id, attempted_at=attempt.attempted_at, duration_ms=attempt.duration_ms,
        status_code=attempt.status_code, error=attempt.error,
    ))
    condition = [outbox.c.id == entry_id, outbox.c.status == PENDING]
    if status != DELIVERED:
        condition.append(outbox.c.lease_owner == owner)
    values: dict[str, Any] = {
        "status": status, "attempts": outbox.c.attempts + 1, "last_error": error,
        "lease_owner": None, "lease_expires_at": None, "next_attempt_at": next_attempt_at,
    }
    if status == DELIVERED:
        values["delivered_at"] = attempt.attempted_at
    conn.execute(update(outbox).where(*condition).values(**values))


def release(conn: Connection, *, owner: str) -> int:
    """Give back the entries `owner` holds (a clean stop), so others need not wait."""
    result = conn.execute(
        update(outbox).where(outbox.c.lease_owner == owner, outbox.c.status == PENDING)
        .values(lease_owner=None, lease_expires_at=None)
    )
    return int(result.rowcount or 0)


def entries_for(conn: Connection, subject: str, subject_id: int) -> list[OutboxEntry]:
    query = (
        select(*_COLUMNS)
        .where(outbox.c.subject == subject, outbox.c.subject_id == subject_id)
        .order_by(outbox.c.id)
    )
    return [_entry(row) for row in conn.execute(query).all()]


def attempts_of(conn: Connection, entry_id: int) -> list[Attempt]:
    query = (
        select(outbox_attempts.c.attempted_at, outbox_attempts.c.duration_ms,
               outbox_attempts.c.status_code, outbox_attempts.c.error)
        .where(outbox_attempts.c.outbox_id == entry_id)
        .order_by(outbox_attempts.c.id)
    )
    return [Attempt(**row._mapping) for row in conn.execute(query).all()]


def webhook_secret(conn: Connection, instance_id: int, candidate: str) -> str:
    """The instance's signing secret, storing `candidate` if it has none yet."""
    conn.execute(
        update(instances)
        .where(instances.c.id == instance_id, instances.c.webhook_secret.is_(None))
        .values(webhook_secret=candidate)
    )
    query = select(instances.c.webhook_secret).where(instances.c.id == instance_id)
    return str(conn.execute(query).scalar_one())


def prune(conn: Connection, *, before: datetime) -> int:
    """Delete settled entries (delivered or given up) made before `before`."""
    result = conn.execute(
        delete(outbox).where(outbox.c.status != PENDING, outbox.c.created_at < before)
    )
    return int(result.rowcount or 0)


# Callbacks of runs (script and service doors) -------------------------------------------

RUN_SUBJECT = "run"


def run_callback_body(row: Row[Any]) -> dict[str, Any]:
    """What a run's callback reports: the run, and its output when it had one task."""
    body: dict[str, Any] = {
        "run": {
            "id": row.id, "kind": row.kind, "instance": row.instance_name,
            "status": row.status, "success": row.status == SUCCESS, "runtime": row.runtime,
            "script": row.script_number, "trace": row.number,
            "created_at": iso_z(row.created_at), "started_at": iso_z(row.started_at),
            "finished_at": iso_z(row.finished_at), "duration_ms": row.duration_ms,
            "tasks_total": row.tasks_total, "tasks_failed": row.tasks_failed,
            "error": row.error,
        },
    }
    if row.tasks_total == 1:
        body["result"] = {
            "stdout": row.stdout or "", "stderr": row.stderr or "", "exit_code": row.exit_code,
            "truncated": bool(row.output_truncated), "value": row.result,
        }
    return body


def _service_summary(conn: Connection, run_id: int) -> dict[str, list[str]]:
    """The devices that succeeded and those that did not, as run_service's summary."""
    summary: dict[str, list[str]] = {"success": [], "failure": []}
    query = (select(tasks.c.target, tasks.c.status).where(tasks.c.run_id == run_id)
             .order_by(tasks.c.position))
    for row in conn.execute(query):
        if row.target is not None:
            summary["success" if row.status == SUCCESS else "failure"].append(row.target)
    return summary


def insert_run_callback(conn: Connection, run_id: int, now: datetime) -> int | None:
    """The outbox entry of a run that just ended, if it was given a callback URL."""
    first_task = and_(tasks.c.run_id == runs.c.id, tasks.c.position == 0)
    query = (
        select(
            runs.c.id, runs.c.kind, runs.c.instance_id, runs.c.callback_url, runs.c.status,
            runs.c.runtime, runs.c.number, runs.c.created_at, runs.c.started_at,
            runs.c.finished_at, runs.c.duration_ms, runs.c.tasks_total, runs.c.tasks_failed,
            runs.c.error, instances.c.name.label("instance_name"),
            scripts.c.number.label("script_number"), tasks.c.stdout, tasks.c.stderr,
            tasks.c.exit_code, tasks.c.output_truncated, tasks.c.result,
        )
        .select_from(
            runs.join(instances, instances.c.id == runs.c.instance_id)
            .outerjoin(scripts, scripts.c.id == runs.c.script_id)
            .outerjoin(tasks, first_task)
        )
        .where(runs.c.id == run_id)
    )
    row = conn.execute(query).first()
    if row is None or not row.callback_url:
        return None
    body = run_callback_body(row)
    if row.kind == "service":
        body["summary"] = _service_summary(conn, run_id)
    return insert_entry(
        conn, instance_id=row.instance_id, subject=RUN_SUBJECT, subject_id=run_id,
        url=row.callback_url, body=body, now=now,
    )
