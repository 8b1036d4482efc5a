"""The batch door's operations: the core's batches answered in iVvy's words and codes.

Each operation calls the core and turns its neutral errors into this door's: an unknown
batch has a code per action (24105, 24115, ...), an unfinished one its own, a store that
could not save answers 24091.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from runplane.api.batch_door.envelope import (
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
from runplane.api.batch_door.jobs import parse_jobs
from runplane.clock import iso_z
from runplane.core import batches
from runplane.core.access import Role
from runplane.core.batches import BatchNotFinished, NotSaved, Submitted
from runplane.core.callback_urls import RefusedUrl
from runplane.core.context import Core
from runplane.core.webhooks import message_id
from runplane.delivery.bodies import batch_body
from runplane.errors import NotFound, StoreUnavailable
from runplane.model import ApiKey
from runplane.model.batches import Batch
from runplane.model.callbacks import CALLBACK_PENDING

__all__ = ["Submitted", "callbacks", "progress", "repost", "restart", "results", "submit"]


def _not_found(code: int) -> BatchError:
    return BatchError(404, "Batch not found", code, ["async: no batch with this id (it may "
                                                      "have expired)."])


def not_saved(error: StoreUnavailable) -> BatchError:
    return BatchError(503, "The information was not saved", NOT_SAVED, [error.message])


@contextmanager
def answered_as(missing: int | None, *, saving: bool = False) -> Iterator[None]:
    """An unknown batch as `missing`; with `saving`, a store that failed to save as 24091."""
    try:
        yield
    except NotFound as error:
        if error.kind != "Batch" or missing is None:
            raise
        raise _not_found(missing) from None
    except NotSaved as error:
        if not saving:
            raise
        raise not_saved(error) from error


async def submit(core: Core, key: ApiKey, instance_name: str, body: dict[str, Any]
                 ) -> Submitted:
    """The instance and the key's role first, then the jobs (24092, 24093), then the
    callback URL, as iVvy checks them."""
    instance = await batches.open_instance(core, key, instance_name, Role.run)
    jobs = parse_jobs(body, core.settings.batch_max_jobs)
    try:
        with answered_as(None, saving=True):
            return await batches.submit(core, key, instance, jobs, body.get("callbackUrl"))
    except RefusedUrl as error:
        raise BatchError(400, error.reason, CALLBACK_REFUSED, [f"callbackUrl: {error.reason}"]
                         ) from None


async def progress(core: Core, key: ApiKey, instance_name: str, async_id: Any) -> int:
    with answered_as(PROGRESS_NOT_FOUND):
        return await batches.progress(core, key, instance_name, async_id)


def _not_completed(batch: Batch) -> BatchError:
    return BatchError(400, "Batch has not completed", RESULTS_NOT_COMPLETED,
                      [f"progress: {batch.jobs_done} of {batch.jobs_total} jobs done."])


async def results(core: Core, key: ApiKey, instance_name: str, async_id: Any
                  ) -> dict[str, Any]:
    try:
        with answered_as(RESULTS_NOT_FOUND):
            report = await batches.results(core, key, instance_name, async_id)
    except BatchNotFinished as error:
        raise _not_completed(error.batch) from None
    return batch_body(report)


async def restart(core: Core, key: ApiKey, instance_name: str, async_id: Any) -> Submitted:
    try:
        with answered_as(RESTART_NOT_FOUND, saving=True):
            return await batches.restart(core, key, instance_name, async_id)
    except BatchNotFinished:
        raise BatchError(409, "Batch is still running", RESTART_NOT_FINISHED,
                         ["async: a batch can be restarted once it has finished."]) from None


async def repost(core: Core, key: ApiKey, instance_name: str, async_id: Any) -> int:
    try:
        with answered_as(REPOST_NOT_FOUND, saving=True):
            return await batches.repost(core, key, instance_name, async_id)
    except BatchNotFinished:
        raise BatchError(409, "Batch has not completed", REPOST_NOT_FINISHED,
                         ["async: a callback is sent once the batch has finished."]) from None


async def callbacks(core: Core, key: ApiKey, instance_name: str, async_id: Any
                    ) -> dict[str, Any]:
    """Every callback of the batch and every attempt to deliver it (runplane's own action)."""
    with answered_as(CALLBACKS_NOT_FOUND):
        found = await batches.callbacks(core, key, instance_name, async_id)
    shown = []
    for entry, attempts in found.entries:
        shown.append({
            "webhookId": message_id(entry.id), "url": entry.url, "status": entry.status,
            "attempts": [
                {"at": iso_z(item.attempted_at), "durationMs": item.duration_ms,
                 "statusCode": item.status_code, "error": item.error}
                for item in attempts
            ],
            "createdAt": iso_z(entry.created_at),
            "deliveredAt": iso_z(entry.delivered_at),
            "nextAttemptAt": (iso_z(entry.next_attempt_at)
                              if entry.status == CALLBACK_PENDING else None),
            "lastError": entry.last_error,
        })
    return {"asyncId": found.batch.async_id, "callbacks": shown}
