"""The outbox: callbacks to deliver, leased to a sender like tasks, with every attempt kept.

An entry is written in the transaction that finishes what it reports (a batch, a run), so a
crash can never lose it; it keeps a record of what it reports (store/callback_records.py),
from which the delivery side renders the body it sends. A sender claims due entries with a
lease; the outcome of an attempt and the attempt itself are recorded in one statement group,
so an entry marked delivered is never sent again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, or_, select, update
from sqlalchemy.engine import RowMapping

from runplane.model.batches import Batch
from runplane.model.callbacks import CALLBACK_DELIVERED as DELIVERED
from runplane.model.callbacks import CALLBACK_PENDING as PENDING
from runplane.model.callbacks import Attempt, CallbackRecord, OutboxEntry
from runplane.store.callback_records import (
    BATCH_SUBJECT,
    RUN_SUBJECT,
    batch_report,
    decode,
    encode,
    run_report,
)
from runplane.store.tables import instances, outbox, outbox_attempts

_COLUMNS = tuple(outbox.c[name] for name in (
    "id", "instance_id", "subject", "subject_id", "url", "body", "status", "attempts",
    "next_attempt_at", "created_at", "delivered_at", "last_error",
))
_FIELDS = tuple(column.name for column in _COLUMNS if column.name != "body")


def _entry(mapping: RowMapping, secret: str | None = None) -> OutboxEntry:
    return OutboxEntry(
        **{name: mapping[name] for name in _FIELDS},
        record=decode(mapping["subject"], mapping["body"]), secret=secret,
    )


def insert_entry(
    conn: Connection, *, instance_id: int, subject: str, subject_id: int, url: str,
    record: CallbackRecord, now: datetime,
) -> int:
    statement = insert(outbox).values(
        instance_id=instance_id, subject=subject, subject_id=subject_id, url=url,
        body=encode(record),
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
    return [_entry(row._mapping, row.webhook_secret) for row in conn.execute(query).all()]


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
    return [_entry(row._mapping) for row in conn.execute(query).all()]


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


# Callbacks of what ended (runs of the script and service doors, batches) ----------------


def insert_run_callback(conn: Connection, run_id: int, now: datetime) -> int | None:
    """The outbox entry of a run that just ended, if it was given a callback URL."""
    found = run_report(conn, run_id)
    if found is None:
        return None
    instance_id, url, report = found
    return insert_entry(conn, instance_id=instance_id, subject=RUN_SUBJECT, subject_id=run_id,
                        url=url, record=report, now=now)


def insert_batch_callback(conn: Connection, batch: Batch, now: datetime) -> int:
    """An outbox entry reporting every answer of the batch (which has a callback URL)."""
    assert batch.callback_url is not None
    return insert_entry(
        conn, instance_id=batch.instance_id, subject=BATCH_SUBJECT, subject_id=batch.id,
        url=batch.callback_url, record=batch_report(conn, batch.id, batch.async_id), now=now,
    )
