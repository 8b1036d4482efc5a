"""Leases: keeping this worker's alive, reaping dead workers', and killing stopped runs.

Three loops, each a named step on a period: `renew` extends the leases on the tasks running
here; `reap` requeues (or fails, once their attempts are used up) the tasks of workers that
stopped responding, and ends a batch whose driver failed for good (core/reaping.py);
`check_stops` cancels the executions of runs asked to stop, here or in another process.
"""

from __future__ import annotations

import asyncio
import logging

from runplane.core import reaping
from runplane.core.context import Core
from runplane.engine.lanes import Lanes
from runplane.engine.stops import StopGuard
from runplane.errors import StoreUnavailable
from runplane.store.task_queue import TaskQueue

log = logging.getLogger("runplane.worker")


class Leases:
    def __init__(self, core: Core, queue: TaskQueue, lanes: Lanes, stops: StopGuard) -> None:
        self.core = core
        self.queue = queue
        self.lanes = lanes
        self.stops = stops

    def loops(self) -> list[asyncio.Task[None]]:
        return [
            asyncio.create_task(self._renew_loop(), name="runplane-renew"),
            asyncio.create_task(self._reap_loop(), name="runplane-reap"),
            asyncio.create_task(self._stop_loop(), name="runplane-stop"),
        ]

    async def renew(self) -> int:
        return await self.queue.renew(list(self.lanes.running))

    async def reap(self) -> int:
        """Requeue tasks of dead workers, or fail them once their attempts are used up."""
        requeued, finished = await reaping.reap(self.core)
        if requeued:
            log.warning("requeued %d task(s) whose worker stopped responding", requeued)
            self.core.signals.work_queued()
        for run in finished:
            log.error("run %s failed: its worker stopped responding too often", run.run_id)
            self.core.signals.run_finished(run.run_id, run.run)
        return requeued + len(finished)

    async def check_stops(self) -> None:
        """Kill the executions of runs asked to stop (here or from another process)."""
        if not self.lanes.running:
            return
        try:
            stopped = await self.queue.stopped()
        except StoreUnavailable as error:
            log.warning("checking for stopped runs failed: %s", error)
            return
        self.stops.cancel(stopped, self.lanes.running)

    async def _renew_loop(self) -> None:
        period = self.core.settings.lease_seconds / 3
        while True:
            await asyncio.sleep(period)
            try:
                await self.renew()
            except StoreUnavailable as error:
                log.warning("lease renewal failed: %s", error)

    async def _reap_loop(self) -> None:
        # Reap at once on start: tasks of a worker that died before us are waiting.
        period = self.core.settings.lease_seconds / 2
        while True:
            try:
                await self.reap()
            except StoreUnavailable as error:
                log.warning("reaping expired leases failed: %s", error)
            except Exception:  # a bug of ours: said, and the reaper lives on
                log.exception("reaping expired leases failed")
            await asyncio.sleep(period)

    async def _stop_loop(self) -> None:
        period = self.core.settings.stop_poll_interval
        while True:
            await self.core.signals.wait_for_stop(period)
            await self.check_stops()
