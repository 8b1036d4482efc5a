"""The worker's lanes as the core's handoff sees them: slots reserved and settled, the
tasks handed over started in them, and nothing reserved once the worker is stopping."""

from __future__ import annotations

import asyncio

import pytest

from runplane.core.handoff import Handoff
from runplane.engine.lanes import Lane, Lanes
from runplane.engine.performers import CONTROL_KINDS, EXECUTION_KINDS
from runplane.model import ClaimedTask
from runplane.store.claims import NO_GROUPING
from runplane.store.task_queue import LeaseTerms

pytestmark = pytest.mark.anyio

TERMS = LeaseTerms(owner="w", seconds=30.0, instance_limit=None, grouping=NO_GROUPING)


def task(task_id: int, kind: str = "script") -> ClaimedTask:
    return ClaimedTask(task_id=task_id, run_id=task_id, kind=kind, attempt=1, instance_id=1,
                       instance_name="i", instance_config={}, payload={}, meta={})


def make_lanes(release: asyncio.Event, ran: list[list[int]]) -> Lanes:
    async def work(group: list[ClaimedTask]) -> None:
        ran.append([item.task_id for item in group])
        await release.wait()

    return Lanes([Lane("execution", EXECUTION_KINDS, 2, asyncio.Event()),
                  Lane("control", CONTROL_KINDS, 1, asyncio.Event())],
                 terms=TERMS, intake_width=1, work=work)


async def test_reserved_slots_are_settled_into_running_tasks() -> None:
    release, ran = asyncio.Event(), list[list[int]]()
    lanes = make_lanes(release, ran)
    handoff: Handoff = lanes
    assert (handoff.owner, handoff.lease_seconds, handoff.instance_limit) == ("w", 30.0, None)
    assert handoff.reserve("script", 5) == 2 and lanes[0].free == 0
    assert handoff.reserve("batch", 5) == 1 and lanes[1].free == 0
    lanes[0].backlog = True
    handoff.settle("script", 2, [[task(1)]])  # one slot used, the other freed
    assert lanes[0].reserved == 0 and lanes[0].free == 1 and lanes[0].wakeup.is_set()
    await asyncio.sleep(0)
    assert ran == [[1]] and set(lanes.running) == {1}
    release.set()
    await asyncio.gather(*lanes.all_active())
    await asyncio.sleep(0)
    assert lanes.running == {} and lanes[0].free == 2
    handoff.settle("batch", 1, [])
    assert not lanes.reserving


async def test_a_closed_worker_reserves_nothing() -> None:
    lanes = make_lanes(asyncio.Event(), [])
    lanes.closed = True
    assert lanes.reserve("script", 1) == 0 and lanes.reserve("batch", 1) == 0
    assert lanes.reserve("unknown", 1) == 0
