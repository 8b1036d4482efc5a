"""The worker loop: claim tasks, perform them, record the results, keep the leases alive.

One worker runs in each process that executes (inside `runplane serve`, or `runplane
worker`). It has lanes: the execution lane (scripts, service targets: a child process each,
or one for a group of a snippet run's targets) with `workers` slots, and the control lane
(batch drivers) with `control_slots` slots. Runs made in this process may be handed to it as
they are made (core/handoff.py). It never speaks SQL itself; it calls the store's claim and
queue operations. Steps are named for what they do: claim, perform, record, renew, reap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from runplane.clock import utcnow
from runplane.core import batch_driver
from runplane.core.context import Core
from runplane.engine.execution import Executor
from runplane.engine.performers import (
    CONTROL_KINDS,
    EXECUTION_KINDS,
    WorkerContext,
    performer_for,
)
from runplane.engine.script_performer import internal_failure
from runplane.engine.service_batch import BATCHED_SERVICE_TYPES, perform_service_targets
from runplane.errors import StoreUnavailable
from runplane.model import ABORTED, ClaimedTask, TaskResult
from runplane.store import claims, queue
from runplane.store.batches import BATCH_RUN
from runplane.store.queue import FinishedRun

log = logging.getLogger("runplane.worker")

RECORD_RETRIES = 8


def aborted_result() -> TaskResult:
    now = utcnow()
    message = "Aborted: the run was stopped."
    return TaskResult(
        status=ABORTED, exit_code=None, stdout="", stderr=message, output_truncated=False,
        started_at=now, finished_at=now, duration_ms=0, error=message,
    )


def reap_and_abandon(conn: Connection, now: datetime) -> tuple[int, list[FinishedRun]]:
    """Expired leases requeued or failed (queue.reap); a batch whose driver failed for good
    ends in the same transaction, its unanswered jobs answered with the reason."""
    requeued, finished = queue.reap(conn, now=now)
    for run in finished:
        if run.run is not None and run.run.kind == BATCH_RUN:
            batch_driver.abandon(conn, run.run_id)
    return requeued, finished


def record_then_claim(
    conn: Connection, *, owner: str, now: datetime,
    outcomes: list[tuple[int, TaskResult | None]], successor: dict[str, Any] | None,
    lone: bool = True,
) -> tuple[list[queue.Recorded], claims.Claimed | None]:
    """The results (queue.finish_tasks) and, if asked, a claim for the slot they free."""
    recorded = queue.finish_tasks(conn, owner=owner, now=now, outcomes=outcomes, lone=lone)
    return recorded, claims.claim_tasks(conn, **successor) if successor else None


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class Lane:
    """A set of slots for some run kinds, with its own claim loop."""

    name: str
    kinds: tuple[str, ...]
    slots: int
    # Set by work queued for these kinds and by a task of this lane ending.
    wakeup: asyncio.Event
    active: set[asyncio.Task[None]] = field(default_factory=set)
    # Slots held for runs being created in this process (core/handoff.py).
    reserved: int = 0
    # There may be queued work this lane could not take (its slots were full, or limits held
    # some back): a slot freed must claim again. Otherwise new work wakes the lane itself.
    backlog: bool = True

    @property
    def free(self) -> int:
        return self.slots - len(self.active) - self.reserved


class Worker:
    def __init__(self, core: Core, executor: Executor, *, slots: int) -> None:
        self.core = core
        self.executor = executor
        self.name = worker_name()
        self.context = WorkerContext(core=core, executor=executor, worker_name=self.name)
        signals = core.signals
        self.lanes = [Lane("execution", EXECUTION_KINDS, max(1, slots),
                           signals.work_event(EXECUTION_KINDS))]
        if core.settings.control_slots > 0:
            self.lanes.append(Lane("control", CONTROL_KINDS, core.settings.control_slots,
                                   signals.work_event(CONTROL_KINDS)))
        # Runs made in this process, at most as many at once as the database writes at once
        # (core/handoff.py says why).
        self.intake = asyncio.Semaphore(core.database.writers_at_once)
        self._stopping = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._running: dict[int, asyncio.Task[None]] = {}
        # Tasks cancelled because their run was stopped (not because we are shutting down).
        self._aborting: set[int] = set()
        # Tasks inside their performer: only those may be cancelled by a stop, never one
        # whose result is being recorded (cancelling that would lose the result).
        self._executing: set[int] = set()

    @property
    def slots(self) -> int:
        return self.lanes[0].slots

    def _all_active(self) -> set[asyncio.Task[None]]:
        return set().union(*(lane.active for lane in self.lanes))

    # Life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self.executor.start()
        self._loops = [
            *(asyncio.create_task(self._claim_loop(lane), name=f"runplane-claim-{lane.name}")
              for lane in self.lanes),
            asyncio.create_task(self._renew_loop(), name="runplane-renew"),
            asyncio.create_task(self._reap_loop(), name="runplane-reap"),
            asyncio.create_task(self._stop_loop(), name="runplane-stop"),
        ]
        self.core.handoff = self  # runs made in this process may start here at once
        log.info("worker %s started: %s", self.name,
                 ", ".join(f"{lane.slots} {lane.name} slot(s)" for lane in self.lanes))

    async def stop(self) -> None:
        """Stop claiming; let running tasks finish within the grace period, then give back."""
        self._stopping.set()
        if self.core.handoff is self:
            self.core.handoff = None
        self.core.signals.work_queued()  # wake the claim loops so they see the stop
        # Runs being handed to us are started (or their slots freed) when their transaction
        # ends: wait for that, so that what we give back below is not started afterwards.
        while any(lane.reserved for lane in self.lanes):
            await asyncio.sleep(0.01)
        active = self._all_active()
        if active:
            _, pending = await asyncio.wait(active, timeout=self.core.settings.shutdown_grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        with contextlib.suppress(StoreUnavailable):
            released = await self.core.database.write(queue.release, owner=self.name, now=utcnow())
            if released:
                log.info("gave back %d unfinished task(s) to the queue", released)
        await self.executor.close()

    # Claim and perform --------------------------------------------------------------------

    async def _claim_loop(self, lane: Lane) -> None:
        settings = self.core.settings
        wakeup = lane.wakeup
        while not self._stopping.is_set():
            wakeup.clear()  # what happens from here on (new work, a freed slot) wakes us
            free = lane.free
            if free <= 0:
                lane.backlog = True  # perhaps woken by new work: the next free slot looks
            else:
                try:
                    claimed = await self.claim_tasks(free, lane.kinds)
                except StoreUnavailable as error:
                    log.warning("claim failed, retrying: %s", error)
                    await asyncio.sleep(settings.poll_interval)
                    continue
                self._start(lane, claimed.groups)
                full = len(claimed.groups) == free
                lane.backlog = full or claimed.held_back
                if full:
                    continue  # there may be more
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), settings.poll_interval)

    def _start(self, lane: Lane, groups: list[list[ClaimedTask]]) -> None:
        """One slot each: a task alone, or a group of one service run's targets."""
        for group in groups:
            ids = [task.task_id for task in group]
            work = self.perform(group[0]) if len(group) == 1 else self.perform_group(group)
            running = asyncio.create_task(work, name=f"task-{ids[0]}")
            lane.active.add(running)
            for task_id in ids:
                self._running[task_id] = running
            running.add_done_callback(
                lambda done, lane=lane, ids=ids: self._task_done(lane, ids, done)
            )

    # Handing new runs to this worker (core/handoff.py) -----------------------------------

    @property
    def owner(self) -> str:
        return self.name

    @property
    def lease_seconds(self) -> float:
        return self.core.settings.lease_seconds

    @property
    def instance_limit(self) -> int | None:
        return self.core.settings.instance_concurrency or None

    def _lane_of(self, kind: str) -> Lane | None:
        return next((lane for lane in self.lanes if kind in lane.kinds), None)

    def reserve(self, kind: str, wanted: int) -> int:
        lane = self._lane_of(kind)
        if lane is None or self._stopping.is_set():
            return 0
        held = max(0, min(wanted, lane.free))
        lane.reserved += held
        return held

    @property
    def grouping(self) -> claims.Grouping:
        return claims.Grouping(size=self.core.settings.service_batch_size,
                               service_types=BATCHED_SERVICE_TYPES)

    def settle(self, kind: str, reserved: int, groups: list[list[ClaimedTask]]) -> None:
        lane = self._lane_of(kind)
        assert lane is not None and len(groups) <= reserved <= lane.reserved
        lane.reserved -= reserved
        # Started even while stopping: stop() waits for them (or gives them back).
        self._start(lane, groups)
        if len(groups) < reserved and lane.backlog:
            lane.wakeup.set()  # slots held for nothing: the claim loop may use them

    def _task_done(self, lane: Lane, ids: list[int], running: asyncio.Task[None]) -> None:
        lane.active.discard(running)
        for task_id in ids:
            self._running.pop(task_id, None)
        if lane.backlog:  # a slot is free, and a task held back by a limit may go on now
            lane.wakeup.set()

    async def claim_tasks(self, limit: int, kinds: tuple[str, ...]) -> claims.Claimed:
        return await self.core.database.write_small(
            claims.claim_tasks, **self._claim_request(limit, kinds)
        )

    def _claim_request(self, limit: int, kinds: tuple[str, ...]) -> dict[str, Any]:
        now = utcnow()
        return {
            "owner": self.name, "limit": limit, "now": now, "kinds": kinds,
            "lease_until": now + timedelta(seconds=self.core.settings.lease_seconds),
            "instance_limit": self.core.settings.instance_concurrency or None,
            "grouping": self.grouping,
        }

    async def perform(self, task: ClaimedTask) -> None:
        async def execute() -> list[TaskResult | None]:
            return [await performer_for(task.kind)(self.context, task)]

        [result] = await self._execute([task.task_id], execute)
        assert result is not None
        await self.record(task, result)

    async def perform_group(self, group: list[ClaimedTask]) -> None:
        """Targets of one service run in one process, in turn (engine/service_batch.py)."""
        ids = [task.task_id for task in group]
        results = await self._execute(
            ids, lambda: perform_service_targets(self.context, group)
        )
        await self._record_all(list(zip(ids, results, strict=True)), group[0].kind, False)

    async def _execute(self, ids: list[int],
                       work: Callable[[], Awaitable[list[TaskResult | None]]]
                       ) -> list[TaskResult | None]:
        """The results of `work` for the tasks `ids`; a stop of their run makes them
        aborted, a bug of ours a failure (never a lost task). Only while in here may a stop
        cancel them: never once their results are being recorded."""
        self._executing.update(ids)
        try:
            return await work()
        except asyncio.CancelledError:
            if not self._aborting.intersection(ids):
                raise  # shutting down: the leases are released, the tasks run again elsewhere
            self._aborting.difference_update(ids)
            return [aborted_result() for _ in ids]
        except Exception as error:  # a bug of ours must not lose the tasks silently
            log.exception("performing tasks %s failed", ids)
            message = f"runplane: internal error while executing: {error!r}"
            return [internal_failure(message) for _ in ids]
        finally:
            self._executing.difference_update(ids)

    async def record(self, task: ClaimedTask, result: TaskResult) -> None:
        await self._record_all([(task.task_id, result)], task.kind, task.tasks_total == 1)

    async def _record_all(self, outcomes: list[tuple[int, TaskResult | None]],
                          kind: str = EXECUTION_KINDS[0], lone: bool = True) -> None:
        """Write the results (None: give the task back, never begun) in one transaction; a
        briefly unavailable store is retried rather than losing them.

        When work may be waiting (the lane's backlog), the same transaction claims what is
        to take this slot next, which starts at once: under load, one write per run instead
        of a write for the result and another for the next claim.
        """
        lane = self._lane_of(kind)
        delay = 0.05
        for attempt in range(RECORD_RETRIES):
            successor = None
            if lane is not None and lane.backlog and not self._stopping.is_set():
                successor = self._claim_request(1, lane.kinds)
            try:
                recorded, claimed = await self.core.database.write_small(
                    record_then_claim, owner=self.name, now=utcnow(), outcomes=outcomes,
                    successor=successor, lone=lone,
                )
                break
            except StoreUnavailable as error:
                if attempt == RECORD_RETRIES - 1:
                    log.error("could not record tasks %s; their leases will expire: %s",
                              [task_id for task_id, _ in outcomes], error)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        for (task_id, _), outcome in zip(
            [item for item in outcomes if item[1] is not None], recorded, strict=True
        ):
            if not outcome.accepted:
                log.warning("task %s: lease lost before its result was recorded; dropped",
                            task_id)
            elif outcome.finished_run is not None:
                finished = outcome.finished_run
                self.core.signals.run_finished(finished.run_id, finished.run)
        if claimed is not None and lane is not None:
            # This task's slot passes to what was claimed for it.
            current = asyncio.current_task()
            if current is not None:
                lane.active.discard(current)
            self._start(lane, claimed.groups)
            lane.backlog = bool(claimed.groups) or claimed.held_back

    # Leases -------------------------------------------------------------------------------

    async def _renew_loop(self) -> None:
        period = self.core.settings.lease_seconds / 3
        while True:
            await asyncio.sleep(period)
            try:
                await self.renew()
            except StoreUnavailable as error:
                log.warning("lease renewal failed: %s", error)

    async def renew(self) -> int:
        lease_until = utcnow() + timedelta(seconds=self.core.settings.lease_seconds)
        return await self.core.database.write_small(
            queue.renew_leases, owner=self.name, task_ids=list(self._running),
            lease_until=lease_until,
        )

    async def _reap_loop(self) -> None:
        # Reap at once on start: tasks of a worker that died before us are waiting.
        period = self.core.settings.lease_seconds / 2
        while True:
            try:
                await self.reap()
            except StoreUnavailable as error:
                log.warning("reaping expired leases failed: %s", error)
            await asyncio.sleep(period)

    async def _stop_loop(self) -> None:
        """Kill the executions of runs asked to stop (here or from another process)."""
        period = self.core.settings.stop_poll_interval
        while True:
            await self.core.signals.wait_for_stop(period)
            if not self._running:
                continue
            try:
                stopped = await self.core.database.read_small(queue.stopped_tasks, owner=self.name)
            except StoreUnavailable as error:
                log.warning("checking for stopped runs failed: %s", error)
                continue
            for task_id in stopped:
                running = self._running.get(task_id)
                if (running is not None and task_id in self._executing
                        and task_id not in self._aborting):
                    self._aborting.add(task_id)
                    running.cancel()

    async def reap(self) -> int:
        """Requeue tasks of dead workers, or fail them once their attempts are used up."""
        now = utcnow()
        requeued, finished = await self.core.database.write(reap_and_abandon, now)
        if requeued:
            log.warning("requeued %d task(s) whose worker stopped responding", requeued)
            self.core.signals.work_queued()
        for run in finished:
            log.error("run %s failed: its worker stopped responding too often", run.run_id)
            self.core.signals.run_finished(run.run_id, run.run)
        return requeued + len(finished)
