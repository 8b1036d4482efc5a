"""A batch of jobs (the batch door's ordered action calls) and its statuses, as records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Batch statuses.
BATCH_PENDING = "pending"
BATCH_RUNNING = "running"
BATCH_FINISHED = "finished"
# Job statuses: pending, then running (only jobs that start a run record it), then done.
JOB_PENDING = "pending"
JOB_RUNNING = "running"
JOB_DONE = "done"


@dataclass(frozen=True)
class Batch:
    id: int
    instance_id: int
    instance_name: str
    async_id: str
    run_id: int | None
    status: str
    callback_url: str | None
    jobs_total: int
    jobs_done: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status == BATCH_FINISHED


@dataclass(frozen=True)
class Job:
    namespace: str
    action: str
    params: Any


@dataclass(frozen=True)
class BatchJob:
    id: int
    position: int
    namespace: str
    action: str
    params: Any
    status: str
    response: Any
    run_id: int | None
