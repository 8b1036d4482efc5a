"""Recording: a slot's results written under its lease, and what takes the slot next.

Results are written in one transaction; a briefly unavailable store is retried rather than
losing them (after the last try the leases expire and the tasks run again elsewhere). When
work may be waiting (the lane's backlog), the same transaction claims what is to take the
slot, which starts at once: under load, one write per run instead of a write for the
result and another for the next claim.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from runplane.core.signals import Signals
from runplane.engine.lanes import Lanes
from runplane.errors import StoreUnavailable
from runplane.store.task_queue import Outcome, TaskQueue

log = logging.getLogger("runplane.worker")

RECORD_RETRIES = 8


class Recorder:
    def __init__(self, queue: TaskQueue, lanes: Lanes, signals: Signals) -> None:
        self.queue = queue
        self.lanes = lanes
        self.signals = signals

    async def record(self, outcomes: Sequence[Outcome], kind: str, lone: bool = True) -> None:
        """Write the results (None: give the task back, never begun); `lone` False: their
        run has other tasks."""
        lane = self.lanes.lane_of(kind)
        delay = 0.05
        for attempt in range(RECORD_RETRIES):
            successor = None
            if lane is not None and lane.backlog and not self.lanes.closed:
                successor = self.queue.request(1, lane.kinds)
            try:
                recorded, claimed = await self.queue.finish(
                    outcomes, lone=lone, successor=successor
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
                self.signals.run_finished(finished.run_id, finished.run)
        if claimed is not None and lane is not None:
            self.lanes.pass_slot(lane, claimed.groups)
            lane.backlog = bool(claimed.groups) or claimed.held_back
