"""Batches (iVvy's batch namespace): submit, progress, results, restart, repost.

A batch is stored with its jobs and a driver run of kind "batch" (one task, no target) in
one transaction; a worker's control lane claims the driver and runs the jobs in order
(engine/batch_performer.py). The callback is written to the outbox in the transaction that
records the last job's response, so a finished batch always has its callback queued.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from runplane.clock import iso_z, utcnow
from runplane.core.access import Role, require
from runplane.core.batch_errors import (
    CALLBACK_REFUSED,
    CALLBACKS_NOT_FOUND,
    NOT_SAVED,
    PROGRESS_NOT_FOUND,
    REPOST_NOT_FINISHED,
    REPOST_NOT_FOUND,
    RESTART_NOT_FINISHED,
    RESTART_NOT_FOUND,
    RESULTS_NOT_COMPLETED,
    RESULTS_NOT_FOUND,
    BatchError,
)
from runplane.core.batch_jobs import parse_jobs
from runplane.core.callback_urls import RefusedUrl, check_callback_url, configured_networks
from runplane.core.context import Core
from runplane.core.instances import find as find_instance
from runplane.core.webhooks import message_id, new_secret
from runplane.errors import StoreUnavailable
from runplane.model import ApiKey, Instance
from runplane.store import batches as store
from runplane.store import outbox as outbox_store
from runplane.store import runs as run_store
from runplane.store.batches import BATCH_RUN, Batch, BatchJob
from runplane.store.callback_records import BATCH_SUBJECT as BATCH_SUBJECT
from runplane.store.outbox import Attempt, OutboxEntry
from runplane.store.unit import Tx

# A driver resumes where it stopped, so it may be claimed again more often than a script.
DRIVER_MAX_ATTEMPTS = 20


@dataclass(frozen=True)
class Submitted:
    async_id: str
    batch_id: int
    run_id: int


def new_async_id() -> str:
    return secrets.token_hex(16)


async def _callback_url(core: Core, body: dict[str, Any]) -> str:
    try:
        return await check_callback_url(
            body.get("callbackUrl"), configured_networks(core.settings.callback_denied_networks)
        )
    except RefusedUrl as error:
        raise BatchError(400, error.reason, CALLBACK_REFUSED, [f"callbackUrl: {error.reason}"]
                         ) from None


def _new_driver(conn: Tx, instance: Instance, key: ApiKey, async_id: str
                      ) -> int:
    """The run whose one task drives the batch; jobs later run as `key`."""
    run = run_store.insert_run(
        conn, instance_id=instance.id, kind=BATCH_RUN, script_id=None, number=None,
        trigger="api", payload={}, meta={"key_id": key.id, "async_id": async_id},
        targets=[None], max_attempts=DRIVER_MAX_ATTEMPTS, now=utcnow(),
    )
    return run.id


async def submit(core: Core, key: ApiKey, instance_name: str, body: dict[str, Any]
                 ) -> Submitted:
    """Check the jobs and the callback URL, then store everything in one transaction."""
    instance = await find_instance(core, instance_name)
    require(key, Role.run, instance)
    jobs = parse_jobs(body, core.settings.batch_max_jobs)
    url = await _callback_url(core, body)
    async_id = new_async_id()

    def insert(conn: Tx) -> tuple[int, int]:
        run_id = _new_driver(conn, instance, key, async_id)
        return run_id, store.insert_batch(
            conn, instance_id=instance.id, async_id=async_id, run_id=run_id,
            callback_url=url, jobs=jobs, now=utcnow(),
        )

    try:
        run_id, batch_id = await core.database.write(insert)
    except StoreUnavailable as error:
        raise not_saved(error) from error
    core.signals.work_queued(BATCH_RUN)
    return Submitted(async_id=async_id, batch_id=batch_id, run_id=run_id)


def not_saved(error: StoreUnavailable) -> BatchError:
    return BatchError(503, "The information was not saved", NOT_SAVED, [error.message])


async def _find(core: Core, key: ApiKey, instance_name: str, async_id: Any, role: Role,
                missing: BatchError) -> Batch:
    instance = await find_instance(core, instance_name)
    require(key, role, instance)
    if not isinstance(async_id, str) or not async_id:
        raise missing
    batch = await core.database.read_small(store.get_batch, instance.id, async_id.strip().lower())
    if batch is None:
        raise missing
    return batch


def _not_found(code: int) -> BatchError:
    return BatchError(404, "Batch not found", code, ["async: no batch with this id (it may "
                                                      "have expired)."])


async def progress(core: Core, key: ApiKey, instance_name: str, async_id: Any) -> int:
    """The percentage of jobs done (100 only once the batch has finished)."""
    batch = await _find(core, key, instance_name, async_id, Role.read,
                        _not_found(PROGRESS_NOT_FOUND))
    if batch.finished:
        return 100
    return min(99, batch.jobs_done * 100 // max(1, batch.jobs_total))


def results_body(async_id: str, jobs: list[BatchJob]) -> dict[str, Any]:
    """What `results` answers and the callback carries: every job, in order."""
    return {
        "asyncId": async_id,
        "results": [
            {"namespace": job.namespace, "action": job.action, "request": job.params,
             "response": job.response}
            for job in jobs
        ],
    }


async def results(core: Core, key: ApiKey, instance_name: str, async_id: Any
                  ) -> dict[str, Any]:
    batch = await _find(core, key, instance_name, async_id, Role.read,
                        _not_found(RESULTS_NOT_FOUND))
    if not batch.finished:
        raise BatchError(400, "Batch has not completed", RESULTS_NOT_COMPLETED,
                         [f"progress: {batch.jobs_done} of {batch.jobs_total} jobs done."])
    jobs = await core.database.read(store.jobs_of, batch.id)
    return results_body(batch.async_id, jobs)


async def restart(core: Core, key: ApiKey, instance_name: str, async_id: Any) -> Submitted:
    """Run a finished batch again: its answers are forgotten, a new callback will follow."""
    batch = await _find(core, key, instance_name, async_id, Role.run,
                        _not_found(RESTART_NOT_FOUND))
    if not batch.finished:
        raise BatchError(409, "Batch is still running", RESTART_NOT_FINISHED,
                         ["async: a batch can be restarted once it has finished."])
    instance = await find_instance(core, instance_name)

    def again(conn: Tx) -> int:
        run_id = _new_driver(conn, instance, key, batch.async_id)
        store.restart(conn, batch.id, run_id)
        return run_id

    try:
        run_id = await core.database.write(again)
    except StoreUnavailable as error:
        raise not_saved(error) from error
    core.signals.work_queued(BATCH_RUN)
    return Submitted(async_id=batch.async_id, batch_id=batch.id, run_id=run_id)


async def repost(core: Core, key: ApiKey, instance_name: str, async_id: Any) -> int:
    """Queue the callback of a finished batch again (a new message: a new webhook-id)."""
    batch = await _find(core, key, instance_name, async_id, Role.run,
                        _not_found(REPOST_NOT_FOUND))
    if not batch.finished or not batch.callback_url:
        raise BatchError(409, "Batch has not completed", REPOST_NOT_FINISHED,
                         ["async: a callback is sent once the batch has finished."])

    try:
        return await core.database.write(outbox_store.insert_batch_callback, batch, utcnow())
    except StoreUnavailable as error:
        raise not_saved(error) from error


async def callbacks(core: Core, key: ApiKey, instance_name: str, async_id: Any
                    ) -> dict[str, Any]:
    """Every callback of the batch and every attempt to deliver it (runplane's own action)."""
    batch = await _find(core, key, instance_name, async_id, Role.read,
                        _not_found(CALLBACKS_NOT_FOUND))

    def with_attempts(conn: Tx) -> list[tuple[OutboxEntry, list[Attempt]]]:
        return [(entry, outbox_store.attempts_of(conn, entry.id))
                for entry in outbox_store.entries_for(conn, BATCH_SUBJECT, batch.id)]

    shown = []
    for entry, attempts in await core.database.read(with_attempts):
        shown.append({
            "webhookId": message_id(entry.id), "url": entry.url, "status": entry.status,
            "attempts": [
                {"at": iso_z(item.attempted_at), "durationMs": item.duration_ms,
                 "statusCode": item.status_code, "error": item.error}
                for item in attempts
            ],
            "createdAt": iso_z(entry.created_at),
            "deliveredAt": iso_z(entry.delivered_at),
            "nextAttemptAt": iso_z(entry.next_attempt_at)
            if entry.status == outbox_store.PENDING else None,
            "lastError": entry.last_error,
        })
    return {"asyncId": batch.async_id, "callbacks": shown}


async def webhook_secret(core: Core, key: ApiKey | None, instance_name: str) -> str:
    """The instance's callback signing secret (made on first use); admins only (`key` None:
    a trusted local caller, the CLI)."""
    instance = await find_instance(core, instance_name)
    if key is not None:
        require(key, Role.admin, instance)
    return await core.database.write(outbox_store.webhook_secret, instance.id, new_secret())
