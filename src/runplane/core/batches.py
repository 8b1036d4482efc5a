"""Batches: submit, progress, results, restart, repost, and their callbacks.

A batch is stored with its jobs and a driver run of kind "batch" (one task, no target) in
one transaction; a worker's control lane claims the driver and runs the jobs in order
(engine/batch_performer.py). The callback is written to the outbox in the transaction that
records the last job's response, so a finished batch always has its callback queued.

Errors are core errors (NotFound "Batch", BatchNotFinished, RefusedUrl, NotSaved);
the batch door answers each in iVvy's words and codes.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from runplane.clock import utcnow
from runplane.core.access import Role, require
from runplane.core.callback_urls import check_callback_url, configured_networks
from runplane.core.context import Core
from runplane.core.instances import find as find_instance
from runplane.core.webhooks import new_secret
from runplane.errors import NotFound, RunplaneError, StoreUnavailable
from runplane.model import BATCH_RUN, ApiKey, Instance
from runplane.model.batches import Batch, Job
from runplane.model.callbacks import Attempt, BatchReport, OutboxEntry
from runplane.store import batches as store
from runplane.store import outbox as outbox_store
from runplane.store import runs as run_store
from runplane.store.callback_records import BATCH_SUBJECT, batch_report
from runplane.store.unit import Tx

T = TypeVar("T")
# A driver resumes where it stopped, so it may be claimed again more often than a script.
DRIVER_MAX_ATTEMPTS = 20


@dataclass(frozen=True)
class Submitted:
    async_id: str
    batch_id: int
    run_id: int


class BatchNotFinished(RunplaneError):
    """The batch is still running, and the operation needs it ended."""

    def __init__(self, batch: Batch) -> None:
        super().__init__("The batch has not finished.")
        self.batch = batch


class NotSaved(StoreUnavailable):
    """The store failed while writing a batch's change: nothing of it was kept."""


async def _write(core: Core, change: Callable[[Tx], T]) -> T:
    try:
        return await core.database.write(change)
    except StoreUnavailable as error:
        raise NotSaved(error.message) from error


def new_async_id() -> str:
    return secrets.token_hex(16)


def _new_driver(conn: Tx, instance: Instance, key: ApiKey, async_id: str
                      ) -> int:
    """The run whose one task drives the batch; jobs later run as `key`."""
    run = run_store.insert_run(
        conn, instance_id=instance.id, kind=BATCH_RUN, script_id=None, number=None,
        trigger="api", payload={}, meta={"key_id": key.id, "async_id": async_id},
        targets=[None], max_attempts=DRIVER_MAX_ATTEMPTS, now=utcnow(),
    )
    return run.id


async def open_instance(core: Core, key: ApiKey, instance_name: str, role: Role) -> Instance:
    """The batch's instance, once `key` may act on it with `role`."""
    instance = await find_instance(core, instance_name)
    require(key, role, instance)
    return instance


async def submit(core: Core, key: ApiKey, instance: Instance, jobs: list[Job],
                 callback_url: Any) -> Submitted:
    """Check the callback URL (RefusedUrl), then store everything in one transaction.

    The instance comes from `open_instance`, and the jobs checked by the door."""
    url = await check_callback_url(
        callback_url, configured_networks(core.settings.callback_denied_networks)
    )
    async_id = new_async_id()

    def insert(conn: Tx) -> tuple[int, int]:
        run_id = _new_driver(conn, instance, key, async_id)
        return run_id, store.insert_batch(
            conn, instance_id=instance.id, async_id=async_id, run_id=run_id,
            callback_url=url, jobs=jobs, now=utcnow(),
        )

    run_id, batch_id = await _write(core, insert)
    core.signals.work_queued(BATCH_RUN)
    return Submitted(async_id=async_id, batch_id=batch_id, run_id=run_id)


async def _find(core: Core, key: ApiKey, instance_name: str, async_id: Any, role: Role
                ) -> Batch:
    """The batch `async_id` of the instance; NotFound("Batch") if there is none (or no id)."""
    instance = await open_instance(core, key, instance_name, role)
    if not isinstance(async_id, str) or not async_id:
        raise NotFound("Batch")
    batch = await core.database.read_small(store.get_batch, instance.id, async_id.strip().lower())
    if batch is None:
        raise NotFound("Batch")
    return batch


async def progress(core: Core, key: ApiKey, instance_name: str, async_id: Any) -> int:
    """The percentage of jobs done (100 only once the batch has finished)."""
    batch = await _find(core, key, instance_name, async_id, Role.read)
    if batch.finished:
        return 100
    return min(99, batch.jobs_done * 100 // max(1, batch.jobs_total))


async def results(core: Core, key: ApiKey, instance_name: str, async_id: Any) -> BatchReport:
    """A finished batch's jobs with their answers, in order, as its callback reports them
    (BatchNotFinished before)."""
    batch = await _find(core, key, instance_name, async_id, Role.read)
    if not batch.finished:
        raise BatchNotFinished(batch)
    return await core.database.read(batch_report, batch.id, batch.async_id)


async def restart(core: Core, key: ApiKey, instance_name: str, async_id: Any) -> Submitted:
    """Run a finished batch again: its answers are forgotten, a new callback will follow."""
    batch = await _find(core, key, instance_name, async_id, Role.run)
    if not batch.finished:
        raise BatchNotFinished(batch)
    instance = await find_instance(core, instance_name)

    def again(conn: Tx) -> int:
        run_id = _new_driver(conn, instance, key, batch.async_id)
        store.restart(conn, batch.id, run_id)
        return run_id

    run_id = await _write(core, again)
    core.signals.work_queued(BATCH_RUN)
    return Submitted(async_id=batch.async_id, batch_id=batch.id, run_id=run_id)


async def repost(core: Core, key: ApiKey, instance_name: str, async_id: Any) -> int:
    """Queue the callback of a finished batch again (a new message: a new webhook-id)."""
    batch = await _find(core, key, instance_name, async_id, Role.run)
    if not batch.finished or not batch.callback_url:
        # A batch without a callback never finishes one.
        raise BatchNotFinished(batch)

    def queue_again(conn: Tx) -> int:
        return outbox_store.insert_batch_callback(conn, batch, utcnow())

    return await _write(core, queue_again)


@dataclass(frozen=True)
class Callbacks:
    """A batch's callbacks, each with every attempt to deliver it."""

    batch: Batch
    entries: list[tuple[OutboxEntry, list[Attempt]]]


async def callbacks(core: Core, key: ApiKey, instance_name: str, async_id: Any) -> Callbacks:
    """Every callback of the batch and every attempt to deliver it (runplane's own action)."""
    batch = await _find(core, key, instance_name, async_id, Role.read)

    def with_attempts(conn: Tx) -> list[tuple[OutboxEntry, list[Attempt]]]:
        return [(entry, outbox_store.attempts_of(conn, entry.id))
                for entry in outbox_store.entries_for(conn, BATCH_SUBJECT, batch.id)]

    return Callbacks(batch, await core.database.read(with_attempts))


async def webhook_secret(core: Core, key: ApiKey | None, instance_name: str) -> str:
    """The instance's callback signing secret (made on first use); admins only (`key` None:
    a trusted local caller, the CLI)."""
    instance = await find_instance(core, instance_name)
    if key is not None:
        require(key, Role.admin, instance)
    return await core.database.write(outbox_store.webhook_secret, instance.id, new_secret())
