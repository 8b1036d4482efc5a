"""The worker: claim tasks, perform them, record the results.

One worker runs in each process that executes (inside `runplane serve`, or `runplane
worker`). It is composed of named parts: its lanes of slots (lanes.py, which also take the
runs handed over as they are made in this process), the recorder (recording.py), the
leases' upkeep (leases.py) and the stop guard (stops.py); here is only its life cycle and
the claim loop of each lane. It never speaks SQL; it goes through the store's task queue
(store/task_queue.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
from collections.abc import Callable, Coroutine
from typing import Any

from runplane.core.context import Core
from runplane.engine.execution import Executor
from runplane.engine.lanes import Lane, Lanes
from runplane.engine.leases import Leases
from runplane.engine.performers import CONTROL_KINDS, EXECUTION_KINDS, Performers, WorkerContext
from runplane.engine.recording import Recorder
from runplane.engine.service_batch import BATCHED_SERVICE_TYPES, perform_service_targets
from runplane.engine.stops import StopGuard
from runplane.errors import StoreUnavailable
from runplane.model import ClaimedTask, TaskResult
from runplane.store.claims import Grouping
from runplane.store.task_queue import LeaseTerms, TaskQueue

log = logging.getLogger("runplane.worker")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Worker:
    def __init__(self, core: Core, executor: Executor, performers: Performers, *,
                 slots: int) -> None:
        settings = core.settings
        self.core = core
        self.executor = executor
        self.performers = performers
        self.name = worker_name()
        self.context = WorkerContext(core=core, executor=executor, worker_name=self.name)
        terms = LeaseTerms(
            owner=self.name, seconds=settings.lease_seconds,
            instance_limit=settings.instance_concurrency or None,
            grouping=Grouping(size=settings.service_batch_size,
                              service_types=BATCHED_SERVICE_TYPES),
        )
        signals = core.signals
        lanes = [Lane("execution", EXECUTION_KINDS, max(1, slots),
                      signals.work_event(EXECUTION_KINDS))]
        if settings.control_slots > 0:
            lanes.append(Lane("control", CONTROL_KINDS, settings.control_slots,
                              signals.work_event(CONTROL_KINDS)))
        self.lanes = Lanes(lanes, terms=terms, intake_width=core.database.writers_at_once,
                           work=self._work)
        self.queue = TaskQueue(core.database, terms)
        self.stops = StopGuard()
        self.recorder = Recorder(self.queue, self.lanes, signals)
        self.leases = Leases(core, self.queue, self.lanes, self.stops)
        self._loops: list[asyncio.Task[None]] = []
        # Called as the worker begins to stop (the wiring detaches its handoff there).
        self.on_stopping: list[Callable[[], None]] = []

    # Life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self.executor.start()
        log.info("runs isolated by: %s", json.dumps(self.executor.isolation()))
        self._loops = [
            *(asyncio.create_task(self._claim_loop(lane), name=f"runplane-claim-{lane.name}")
              for lane in self.lanes),
            *self.leases.loops(),
        ]
        log.info("worker %s started: %s", self.name,
                 ", ".join(f"{lane.slots} {lane.name} slot(s)" for lane in self.lanes))

    async def stop(self) -> None:
        """Stop claiming; let running tasks finish within the grace period, then give back."""
        self.lanes.closed = True  # no new claims, no slots reserved for new runs
        for hook in self.on_stopping:
            hook()
        self.core.signals.work_queued()  # wake the claim loops so they see the stop
        # Runs being handed to us are started (or their slots freed) when their transaction
        # ends: wait for that, so that what we give back below is not started afterwards.
        while self.lanes.reserving:
            await asyncio.sleep(0.01)
        active = self.lanes.all_active()
        if active:
            _, pending = await asyncio.wait(active, timeout=self.core.settings.shutdown_grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        with contextlib.suppress(StoreUnavailable):
            released = await self.queue.release()
            if released:
                log.info("gave back %d unfinished task(s) to the queue", released)
        await self.executor.close()

    # Claim, perform, record ---------------------------------------------------------------

    async def _claim_loop(self, lane: Lane) -> None:
        settings = self.core.settings
        wakeup = lane.wakeup
        while not self.lanes.closed:
            wakeup.clear()  # what happens from here on (new work, a freed slot) wakes us
            free = lane.free
            if free <= 0:
                lane.backlog = True  # perhaps woken by new work: the next free slot looks
            else:
                try:
                    claimed = await self.queue.claim(free, lane.kinds)
                except StoreUnavailable as error:
                    log.warning("claim failed, retrying: %s", error)
                    await asyncio.sleep(settings.poll_interval)
                    continue
                self.lanes.start(lane, claimed.groups)
                full = len(claimed.groups) == free
                lane.backlog = full or claimed.held_back
                if full:
                    continue  # there may be more
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), settings.poll_interval)

    def _work(self, group: list[ClaimedTask]) -> Coroutine[Any, Any, None]:
        return self.perform(group[0]) if len(group) == 1 else self.perform_group(group)

    async def perform(self, task: ClaimedTask) -> None:
        async def execute() -> list[TaskResult | None]:
            return [await self.performers[task.kind](self.context, task)]

        [result] = await self.stops.execute([task.task_id], execute)
        assert result is not None
        await self.record(task, result)

    async def perform_group(self, group: list[ClaimedTask]) -> None:
        """Targets of one service run in one process, in turn (engine/service_batch.py)."""
        ids = [task.task_id for task in group]
        results = await self.stops.execute(
            ids, lambda: perform_service_targets(self.context, group)
        )
        await self.recorder.record(list(zip(ids, results, strict=True)), group[0].kind,
                                   lone=False)

    async def record(self, task: ClaimedTask, result: TaskResult) -> None:
        await self.recorder.record([(task.task_id, result)], task.kind, task.tasks_total == 1)
