"""What a callback reports, as plain records: the outbox keeps one with each entry, taken in
the transaction that ended its subject, and the delivery side renders the body from it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runplane.model.records import TaskOutput


@dataclass(frozen=True)
class TargetStatus:
    """One target of a run and the status its task ended with."""

    target: str
    status: str


@dataclass(frozen=True)
class RunReport:
    """A run as it ended, with the names a reader knows it by."""

    run_id: int
    kind: str
    instance: str
    status: str
    runtime: str | None
    script_number: int | None
    number: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    tasks_total: int
    tasks_failed: int
    error: str | None
    # The output of its one task (None when it had several).
    output: TaskOutput | None = None
    # Each target's status in order, for runs over targets (services); None otherwise.
    targets: tuple[TargetStatus, ...] | None = None


@dataclass(frozen=True)
class AnsweredJob:
    """One job of a batch: the call it made and the answer it got."""

    namespace: str
    action: str
    params: Any
    response: Any


@dataclass(frozen=True)
class BatchReport:
    """A finished batch: every job's answer, in order."""

    async_id: str
    jobs: tuple[AnsweredJob, ...]


@dataclass(frozen=True)
class Rendered:
    """A body rendered already (an entry written before records were kept): sent as is."""

    body: Any


CallbackRecord = RunReport | BatchReport | Rendered


# A callback's statuses: pending until delivered, or failed for good.
CALLBACK_PENDING = "pending"
CALLBACK_DELIVERED = "delivered"
CALLBACK_FAILED = "failed"


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    instance_id: int
    subject: str
    subject_id: int
    url: str
    # What the callback reports; the delivery side renders its body from it.
    record: CallbackRecord
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
