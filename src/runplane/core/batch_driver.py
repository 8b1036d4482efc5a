"""Driving a batch: its jobs in order, each answer kept as it ends, the callback at the end.

The driver holds the lease of the batch's run task. Each answer is committed before the next
job starts, under a check that the lease is still ours, so a driver resumed after a crash
skips the jobs that have answers. A job that only changes the store commits its change and
its answer together; a job that started a run recorded that run in the run's own
transaction, and a resumed driver waits for it instead of starting another. The last answer,
the batch's end and its outbox entry are one transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, TypeVar, cast

from runplane.clock import utcnow
from runplane.core.context import Core
from runplane.core.job_set import JobAction, JobAnswer, JobContext, JobSet
from runplane.errors import RunplaneError, StoreUnavailable
from runplane.model import ApiKey, Instance, Run
from runplane.model.batches import JOB_DONE, Batch, BatchJob
from runplane.store import batches as store
from runplane.store import instances as instance_store
from runplane.store import keys as key_store
from runplane.store import outbox as outbox_store
from runplane.store.database import Database
from runplane.store.joined import JoinedDatabase
from runplane.store.unit import Tx

log = logging.getLogger("runplane.batch")
T = TypeVar("T")


class LeaseLost(Exception):
    """Another worker drives this batch now (ours was presumed dead): stop quietly."""


@dataclass(frozen=True)
class Driver:
    core: Core
    jobs: JobSet
    batch: Batch
    instance: Instance
    key: ApiKey | None
    task_id: int
    owner: str


async def patiently(what: str, step: Callable[[], Awaitable[T]]) -> T:
    """Retry `step` while the store is unavailable: an answer must not be lost to a blip.

    If the store stays away, our lease lapses and another worker may take the batch over;
    the lease check at the next record then stops this driver.
    """
    delay = 0.05
    while True:
        try:
            return await step()
        except StoreUnavailable as error:
            log.warning("batch: %s failed, retrying in %.2f s: %s", what, delay, error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def open_driver(core: Core, run_id: int, meta: dict[str, Any], task_id: int, owner: str
                      ) -> tuple[Driver, list[BatchJob]] | None:
    """The batch this run drives, marked started, and its jobs; None if it is gone."""
    jobs = core.jobs()

    def load(conn: Tx
             ) -> tuple[Batch, Instance | None, ApiKey | None, list[BatchJob]] | None:
        batch = store.batch_of_run(conn, run_id)
        if batch is None:
            return None
        store.mark_started(conn, batch.id, utcnow())
        key = key_store.get_key(conn, int(meta.get("key_id", 0)))
        instance = instance_store.get_instance(conn, batch.instance_name)
        return batch, instance, key, store.jobs_of(conn, batch.id)

    loaded = await patiently("loading the batch", lambda: core.database.write(load))
    if loaded is None or loaded[1] is None:
        return None
    batch, instance, key, batch_jobs = loaded
    assert instance is not None
    return Driver(core, jobs, batch, instance, key, task_id, owner), batch_jobs


def _context(driver: Driver, job: BatchJob, key: ApiKey, core: Core) -> JobContext:
    def link(conn: Tx, run: Run) -> None:
        store.link_job_run(conn, job.id, run.id, utcnow())

    return JobContext(core=core, key=key, instance=driver.instance,
                      started_run_id=job.run_id, link=link)


class Refused(Exception):
    """The action failed: its transaction is undone, and this is its answer."""

    def __init__(self, response: dict[str, Any]) -> None:
        super().__init__(response)
        self.response = response


async def _call(driver: Driver, job: BatchJob, found: JobAction, context: JobContext
                ) -> JobAnswer:
    """The action's answer; Refused with its refusal as the job set words it;
    StoreUnavailable is raised as it is (the job did not happen, and is tried again)."""
    try:
        return await found.perform(context, job.params)
    except (StoreUnavailable, asyncio.CancelledError):
        raise
    except RunplaneError as error:
        raise Refused(driver.jobs.refusal(error)) from error
    except Exception as error:  # a bug of ours: this job's answer, not the batch's end
        log.exception("batch %s: job %s failed", driver.batch.async_id, job.position)
        raise Refused(driver.jobs.internal_error(error)) from error


# A run of jobs that only change the store shares one transaction, for at most this long
# and this many jobs: each job's change still commits with its own answer (a crash keeps
# both or neither), at a fraction of the cost; other writers wait at most about this long.
GROUP_SECONDS = 0.05
GROUP_MAX_JOBS = 200


class RefusedAt(Exception):
    """Job `index` of a group failed: the group's transaction is undone."""

    def __init__(self, index: int, response: dict[str, Any]) -> None:
        super().__init__(index)
        self.index = index
        self.response = response


@dataclass(frozen=True)
class Unknown:
    """A job naming no action: its answer is the refusal, with no change."""

    answer: JobAnswer


def _found(driver: Driver, job: BatchJob) -> JobAction | Unknown:
    try:
        return driver.jobs.find(job.namespace, job.action)
    except RunplaneError as error:
        return Unknown(driver.jobs.refusal(error))


def _groupable(driver: Driver, job: BatchJob) -> bool:
    """Jobs a group may hold: store-only actions, and unknown ones (their answer is the
    error, with no change)."""
    found = _found(driver, job)
    return isinstance(found, Unknown) or found.atomic


async def perform_jobs(driver: Driver, pending: list[BatchJob]) -> int:
    """Run the first pending job, and the store-only ones after it, keeping each answer;
    answers how many jobs now have answers (at least one).

    Store-only jobs run inside the transaction that records their answers (never done
    twice, and one commit for a group of them); a job that starts a run commits it first,
    and waits for it.
    """
    first = pending[0]
    found = _found(driver, first)
    key = driver.key
    if isinstance(found, Unknown):
        if len(pending) == 1 or key is None:
            await record(driver, first, found.answer)
            return 1
    elif key is None:
        await record(driver, first, driver.jobs.key_gone())
        return 1
    elif not found.atomic:
        context = _context(driver, first, key, driver.core)
        action = found

        async def separate() -> Any:
            try:
                return await _call(driver, first, action, context)
            except Refused as refused:
                return refused.response

        await record(driver, first, await patiently(f"job {first.position}", separate))
        return 1
    assert key is not None
    group = [first]
    for job in pending[1:GROUP_MAX_JOBS]:
        if not _groupable(driver, job):
            break
        group.append(job)
    while True:
        try:
            return await patiently(f"job {first.position}",
                                   partial(_in_one, driver, key, list(group)))
        except RefusedAt as refused:  # what the group had changed is undone
            if refused.index == 0:
                await record(driver, first, refused.response)
                return 1
            group = group[:refused.index]  # do those again, then the refused one alone


async def _in_one(driver: Driver, key: ApiKey, group: list[BatchJob]) -> int:
    """Run jobs of `group` in one transaction, each answer kept with its change; stop after
    GROUP_SECONDS. Answers how many ran; RefusedAt if one failed (all is undone)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + GROUP_SECONDS
    async with driver.core.database.transaction() as held:
        # The same core, its database swapped for this transaction (duck-typed).
        inside = JoinedDatabase(held, driver.core.database)
        joined = replace(driver.core, database=cast(Database, inside))
        added = ran = 0
        for index, job in enumerate(group):
            found = _found(driver, job)
            if isinstance(found, Unknown):
                response: JobAnswer = found.answer
            else:
                try:
                    response = await _call(driver, job, found, _context(driver, job, key, joined))
                except Refused as refused:
                    raise RefusedAt(index, refused.response) from refused
            added += await held.run(store.answer_job, job.id, response, utcnow())
            ran = index + 1
            if loop.time() >= deadline:
                break
        finished = await held.run(_count, driver, added)
        if not finished:
            await held.run(store.defer_flush)  # lost only with the changes they answer
    if finished:
        driver.core.signals.callback_queued()
    return ran


def _count(conn: Tx, driver: Driver, added: int) -> bool:
    """Count new answers; at the last one, end the batch and queue its callback, in the
    caller's transaction. LeaseLost (the caller rolls back) if the batch is not ours."""
    batch = driver.batch
    done = store.count_answers(conn, batch.id, added, task_id=driver.task_id,
                               owner=driver.owner)
    if done is None:
        raise LeaseLost  # rolls the answers back: the new driver will give them
    if done < batch.jobs_total:
        return False
    _end(conn, batch)
    return True


def _end(conn: Tx, batch: Batch) -> None:
    """The batch's end and its callback, in the caller's transaction."""
    store.finish(conn, batch.id, utcnow())
    if batch.callback_url:
        outbox_store.insert_batch_callback(conn, batch, utcnow())


def abandon(conn: Tx, run_id: int, answer: JobAnswer) -> bool:
    """In the transaction that failed a batch's driver for good (its lease expired on every
    attempt): every job without an answer gets `answer`, and the batch ends with its
    callback, rather than stay running for ever. False if it had ended already."""
    batch = store.batch_of_run(conn, run_id)
    if batch is None or batch.finished:
        return False
    added = sum(store.answer_job(conn, job.id, answer, utcnow())
                for job in store.jobs_of(conn, batch.id) if job.status != JOB_DONE)
    store.count_answers(conn, batch.id, added)
    _end(conn, batch)
    return True


async def record(driver: Driver, job: BatchJob, response: JobAnswer) -> bool:
    """Keep an answer in a transaction of its own; answers whether the batch has finished."""

    def answer(conn: Tx) -> bool:
        added = store.answer_job(conn, job.id, response, utcnow())
        finished = _count(conn, driver, added)
        if not finished:
            # Lost only in a crash of PostgreSQL itself: the job is then answered again
            # (a run it started is linked durably, and is waited for, not run again).
            store.defer_flush(conn)
        return finished

    async def step() -> bool:
        finished = await driver.core.database.write(answer)
        if finished:
            driver.core.signals.callback_queued()
        return finished

    return await patiently("recording a job's answer", step)
