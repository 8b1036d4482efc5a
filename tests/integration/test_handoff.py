"""Handing new runs to this process's worker in the transaction that makes them
(core/handoff.py), on a real database, with a worker whose claim loops never claim."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from runplane.api.dialects import enms_runs as service_door
from runplane.clock import utcnow
from runplane.core import instances as instance_core
from runplane.core import inventory, runs, scripts, service_runs, services
from runplane.core.context import Core
from runplane.core.services import PYTHON_SNIPPET
from runplane.model import PROCESSING, QUEUED, RUNNING, ApiKey, ClaimedTask
from runplane.store import claims, queue
from runplane.store.claims import NO_GROUPING, Grouping

pytestmark = pytest.mark.anyio


class HeldWorker:
    """A stand-in for the local worker: it reserves from a fixed number of slots and keeps
    what it is handed, instead of running it."""

    owner = "held-worker"
    lease_seconds = 30.0

    def __init__(self, slots: int, instance_limit: int | None = None,
                 grouping: Grouping = NO_GROUPING, intake_width: int = 1) -> None:
        self.intake = asyncio.Semaphore(intake_width)
        self.making = 0  # runs between reserve and settle
        self.most_at_once = 0
        self.free = slots
        self.instance_limit = instance_limit
        self.grouping = grouping
        self.started: list[ClaimedTask] = []
        self.groups: list[list[str | None]] = []
        self.settled: list[tuple[int, int]] = []

    def reserve(self, kind: str, wanted: int) -> int:
        held = min(wanted, self.free)
        self.free -= held
        self.making += 1
        self.most_at_once = max(self.most_at_once, self.making)
        return held

    def settle(self, kind: str, reserved: int, groups: list[list[ClaimedTask]]) -> None:
        self.making -= 1
        self.free += reserved - len(groups)
        self.started += [task for group in groups for task in group]
        self.groups += [[task.target for task in group] for group in groups]
        self.settled.append((reserved, len(groups)))


async def script_number(core: Core, admin: ApiKey) -> int:
    await instance_core.create(core, admin, {"name": "hand"})
    script = await scripts.create(core, admin, "hand", {
        "label": "s", "runtime_name": "python3", "source": "print(ARGS)",
    })
    return script.number


async def task_states(core: Core, run_id: int) -> list[tuple[str, str | None]]:
    def read(conn: Any) -> list[tuple[str, str | None]]:
        rows = conn.execute(
            queue.select(queue.tasks.c.status, queue.tasks.c.lease_owner)
            .where(queue.tasks.c.run_id == run_id).order_by(queue.tasks.c.position)
        ).all()
        return [(row.status, row.lease_owner) for row in rows]

    return await core.database.read(read)


async def test_a_script_run_is_leased_to_the_local_worker_as_it_is_made(
    core: Core, admin: ApiKey
) -> None:
    number = await script_number(core, admin)
    held = HeldWorker(slots=1)
    core.handoff = held
    _, run = await runs.run_script(core, admin, "hand", number, {"a": 1})
    assert [task.run_id for task in held.started] == [run.id]
    [task] = held.started
    assert task.attempt == 1 and task.payload == {"a": 1}
    assert task.script is not None and task.script.source == "print(ARGS)"
    assert task.instance_name == "hand" and task.kind == "script"
    assert await task_states(core, run.id) == [(RUNNING, "held-worker")]
    current = await core.database.read(runs.store.get_run, run.id)
    assert current is not None and current.status == PROCESSING
    # The slot is taken: the next run is left queued for the claim loops.
    _, second = await runs.run_script(core, admin, "hand", number, {"a": 2})
    assert len(held.started) == 1 and held.settled == [(1, 1)]
    assert await task_states(core, second.id) == [(QUEUED, None)]


async def test_a_service_run_hands_over_at_most_its_max_processes(
    core: Core, admin: ApiKey
) -> None:
    instance = await instance_core.create(core, admin, {"name": "fan"})
    await inventory.save_devices(core, instance, [{"name": f"d{i}"} for i in range(6)])
    await services.save(core, instance, {
        "name": "fan", "type": "python_snippet_service", "source_code": "results['success'] = True",
        "max_processes": 2,
    })
    held = HeldWorker(slots=5)
    core.handoff = held
    answer = await service_door.run_service(
        core, instance, {"name": "fan", "devices": [f"d{i}" for i in range(6)], "async": True}
    )
    run = await service_runs.find_run(core, instance, answer["runtime"])
    assert held.settled == [(5, 2)] and held.free == 3
    assert [task.target for task in held.started] == ["d0", "d1"]
    states = await task_states(core, run.id)
    assert states[:2] == [(RUNNING, "held-worker")] * 2
    assert states[2:] == [(QUEUED, None)] * 4


async def test_a_snippet_run_hands_groups_of_targets_to_its_slots(
    core: Core, admin: ApiKey
) -> None:
    """More targets than free slots: each slot gets a share of them, to run in turn in one
    process; the rest stay queued for later claims."""
    instance = await instance_core.create(core, admin, {"name": "fan"})
    await inventory.save_devices(core, instance, [{"name": f"d{i}"} for i in range(9)])
    await services.save(core, instance, {
        "name": "fan", "type": "python_snippet_service",
        "source_code": "results['success'] = True",
    })
    held = HeldWorker(slots=2, grouping=Grouping(size=3, service_types=(PYTHON_SNIPPET,)))
    core.handoff = held
    answer = await service_door.run_service(
        core, instance, {"name": "fan", "devices": [f"d{i}" for i in range(9)], "async": True}
    )
    run = await service_runs.find_run(core, instance, answer["runtime"])
    assert held.settled == [(2, 2)]
    assert held.groups == [["d0", "d1", "d2"], ["d3", "d4", "d5"]]
    states = await task_states(core, run.id)
    assert states[:6] == [(RUNNING, "held-worker")] * 6
    assert states[6:] == [(QUEUED, None)] * 3
    # A later claim shares what is left out over its slots too.
    now = utcnow()
    later = await core.database.write(
        claims.claim_tasks, owner="other", limit=2, now=now,
        lease_until=now + timedelta(seconds=30),
        grouping=Grouping(size=3, service_types=(PYTHON_SNIPPET,)),
    )
    assert [[task.target for task in group] for group in later.groups] == [["d6", "d7"], ["d8"]]


async def test_an_instance_limit_is_counted_across_runs(core: Core, admin: ApiKey) -> None:
    number = await script_number(core, admin)
    held = HeldWorker(slots=3, instance_limit=1)
    core.handoff = held
    made = [await runs.run_script(core, admin, "hand", number, {"i": i}) for i in range(2)]
    assert [task.run_id for task in held.started] == [made[0][1].id]
    assert held.settled == [(1, 1), (1, 0)] and held.free == 2


async def test_the_reservation_is_settled_when_the_write_fails(
    core: Core, admin: ApiKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = await script_number(core, admin)
    held = HeldWorker(slots=1)
    core.handoff = held

    def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(runs.script_store, "next_trace_number", broken)
    with pytest.raises(RuntimeError):
        await runs.run_script(core, admin, "hand", number, {})
    assert held.settled == [(1, 0)] and held.free == 1


async def test_a_cancelled_caller_still_hands_the_run_over(core: Core, admin: ApiKey) -> None:
    """The transaction commits in its thread even if the request is cancelled meanwhile:
    its run must still start, not sit leased to a worker that never heard of it."""
    number = await script_number(core, admin)
    held = HeldWorker(slots=1)
    core.handoff = held
    queued = asyncio.create_task(runs.run_script(core, admin, "hand", number, {}))
    while held.free:  # until the slot is reserved: the write is under way
        await asyncio.sleep(0)
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    for _ in range(200):
        if held.settled:
            break
        await asyncio.sleep(0.01)
    assert held.settled == [(1, 1)] and len(held.started) == 1


async def test_the_real_worker_runs_what_it_is_handed(core: Core, admin: ApiKey) -> None:
    from runplane.engine.runner import start_worker

    number = await script_number(core, admin)
    worker = await start_worker(core)
    assert core.handoff is worker.lanes
    try:
        _, run = await runs.run_script(core, admin, "hand", number, {"x": 1})
        finished = await runs.wait_for_run(core, run.id, timeout=30, fresh=True)
    finally:
        await worker.stop()
    assert core.handoff is None
    assert finished is not None and finished.status == "success"
    assert finished.output is not None and finished.output.stdout == "{'x': 1}\n"


async def test_a_worker_attaches_no_handoff_itself(core: Core, admin: ApiKey) -> None:
    """The handoff is attached where the worker is wired (engine/runner.py): a worker started
    on its own leaves the core alone, and new runs wait in the queue for its claim loops."""
    from runplane.engine.performer_registry import performers_by_kind
    from runplane.engine.runner import make_executor
    from runplane.engine.worker import Worker

    number = await script_number(core, admin)
    worker = Worker(core, make_executor(core.settings), performers_by_kind(), slots=1)
    await worker.start()
    try:
        assert core.handoff is None
        _, run = await runs.run_script(core, admin, "hand", number, {"x": 2})
        finished = await runs.wait_for_run(core, run.id, timeout=30, fresh=True)
    finally:
        await worker.stop()
    assert core.handoff is None
    assert finished is not None and finished.status == "success"
    assert finished.output is not None and finished.output.stdout == "{'x': 2}\n"


async def test_runs_made_at_once_pass_the_intake_as_the_database_writes(
    core: Core, admin: ApiKey
) -> None:
    """Eight clients at once: on SQLite their runs are made one after the other (the worker's
    own steps take turns with them), on PostgreSQL up to a database thread each."""
    number = await script_number(core, admin)
    held = HeldWorker(slots=8, intake_width=core.database.writers_at_once)
    core.handoff = held
    made = await asyncio.gather(*(
        runs.run_script(core, admin, "hand", number, {"i": i}) for i in range(8)
    ))
    assert len({run.id for _, run in made}) == 8 and len(held.started) == 8
    if core.database.is_postgres:
        assert core.database.writers_at_once > 1
        assert held.most_at_once <= core.database.writers_at_once
    else:
        assert core.database.writers_at_once == 1 and held.most_at_once == 1
