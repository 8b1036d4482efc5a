"""Lanes: the worker's slots, and the tasks running in them.

The execution lane (scripts, service targets: a child process each, or one for a group of
a snippet run's targets) has `workers` slots; the control lane (batch drivers) has
`control_slots`. Each lane has its own claim loop (engine/worker.py). Runs made in this
process are handed straight to free slots: `Lanes` implements the core's `Handoff`
(core/handoff.py), and is attached to the core where the process is wired.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from runplane.model import ClaimedTask
from runplane.store.claims import Grouping
from runplane.store.task_queue import LeaseTerms

# What a slot runs: a task alone, or a group of one service run's targets.
Work = Callable[[list[ClaimedTask]], Coroutine[Any, Any, None]]


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


class Lanes:
    """The worker's lanes, the tasks running in them (by task id), and the handoff."""

    def __init__(self, lanes: list[Lane], *, terms: LeaseTerms, intake_width: int,
                 work: Work) -> None:
        self._lanes = lanes
        self.terms = terms
        self._work = work
        # Runs made in this process, at most as many at once as the database writes at once
        # (core/handoff.py says why).
        self.intake = asyncio.Semaphore(intake_width)
        self.running: dict[int, asyncio.Task[None]] = {}
        # Once closed (the worker is stopping) no slot is reserved for new runs.
        self.closed = False

    def __iter__(self) -> Iterator[Lane]:
        return iter(self._lanes)

    def __getitem__(self, index: int) -> Lane:
        return self._lanes[index]

    def lane_of(self, kind: str) -> Lane | None:
        return next((lane for lane in self._lanes if kind in lane.kinds), None)

    def all_active(self) -> set[asyncio.Task[None]]:
        return set().union(*(lane.active for lane in self._lanes))

    @property
    def reserving(self) -> bool:
        """Whether slots are held for runs still being made."""
        return any(lane.reserved for lane in self._lanes)

    # Running tasks ------------------------------------------------------------------------

    def start(self, lane: Lane, groups: list[list[ClaimedTask]]) -> None:
        """One slot each: a task alone, or a group of one service run's targets."""
        for group in groups:
            ids = [task.task_id for task in group]
            running = asyncio.create_task(self._work(group), name=f"task-{ids[0]}")
            lane.active.add(running)
            for task_id in ids:
                self.running[task_id] = running
            running.add_done_callback(partial(self._task_done, lane, ids))

    def pass_slot(self, lane: Lane, claimed: list[list[ClaimedTask]]) -> None:
        """The current task's slot passes to what was claimed for it as it ended."""
        current = asyncio.current_task()
        if current is not None:
            lane.active.discard(current)
        self.start(lane, claimed)

    def _task_done(self, lane: Lane, ids: list[int], running: asyncio.Task[None]) -> None:
        lane.active.discard(running)
        for task_id in ids:
            self.running.pop(task_id, None)
        if lane.backlog:  # a slot is free, and a task held back by a limit may go on now
            lane.wakeup.set()

    # The core's Handoff -------------------------------------------------------------------

    @property
    def owner(self) -> str:
        return self.terms.owner

    @property
    def lease_seconds(self) -> float:
        return self.terms.seconds

    @property
    def instance_limit(self) -> int | None:
        return self.terms.instance_limit

    @property
    def grouping(self) -> Grouping:
        return self.terms.grouping

    def reserve(self, kind: str, wanted: int) -> int:
        lane = self.lane_of(kind)
        if lane is None or self.closed:
            return 0
        held = max(0, min(wanted, lane.free))
        lane.reserved += held
        return held

    def settle(self, kind: str, reserved: int, groups: list[list[ClaimedTask]]) -> None:
        lane = self.lane_of(kind)
        assert lane is not None and len(groups) <= reserved <= lane.reserved
        lane.reserved -= reserved
        # Started even once closed: the worker's stop waits for them (or gives them back).
        self.start(lane, groups)
        if len(groups) < reserved and lane.backlog:
            lane.wakeup.set()  # slots held for nothing: the claim loop may use them
