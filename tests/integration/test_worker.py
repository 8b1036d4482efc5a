"""The worker loop with the real executor, over a real database."""

from __future__ import annotations

import asyncio

import pytest

from runplane.clock import utcnow
from runplane.core import instances, runs, scripts
from runplane.core.context import Core
from runplane.engine.runner import start_worker
from runplane.model import PENDING, SUCCESS, TIMEOUT, ApiKey
from runplane.store import claims
from runplane.store import runs as run_store

pytestmark = pytest.mark.anyio


async def make_script(core: Core, admin: ApiKey, source: str, **config: object) -> int:
    await instances.create(core, admin, {"name": "work", "config": {"greeting": "hi"}})
    script = await scripts.create(core, admin, "work", {
        "label": "s", "runtime_name": "python3", "source": source, "config": config,
    })
    return script.number


async def test_a_queued_run_is_executed_and_its_waiter_woken(core: Core, admin: ApiKey) -> None:
    number = await make_script(
        core, admin, "print(CONFIG['greeting'], ARGS['name'], META['executed_by'])"
    )
    worker = await start_worker(core)
    try:
        _, run = await runs.run_script(core, admin, "work", number, {"name": "ana"})
        finished = await runs.wait_for_run(core, run.id, timeout=30)
    finally:
        await worker.stop()
    assert finished is not None and finished.status == SUCCESS
    assert finished.output is not None and finished.output.stdout == "hi ana codebox\n"
    assert finished.duration_ms is not None and finished.started_at is not None


async def test_script_timeout_comes_from_its_config(core: Core, admin: ApiKey) -> None:
    number = await make_script(core, admin, "import time\ntime.sleep(30)", timeout=1)
    worker = await start_worker(core)
    try:
        _, run = await runs.run_script(core, admin, "work", number, {})
        finished = await runs.wait_for_run(core, run.id, timeout=20)
    finally:
        await worker.stop()
    assert finished is not None and finished.status == TIMEOUT
    assert finished.duration_ms is not None and finished.duration_ms < 10_000


async def test_trace_numbers_stay_unique_under_concurrent_runs(
    core: Core, admin: ApiKey
) -> None:
    number = await make_script(core, admin, "pass")
    made = await asyncio.gather(
        *(runs.run_script(core, admin, "work", number, {"i": i}) for i in range(25))
    )
    assert sorted(run.number or 0 for _, run in made) == list(range(1, 26))


async def test_stopping_a_worker_gives_its_running_task_back(
    core: Core, admin: ApiKey
) -> None:
    number = await make_script(core, admin, "import time\ntime.sleep(60)")
    core.settings.shutdown_grace = 0.2
    worker = await start_worker(core)
    _, run = await runs.run_script(core, admin, "work", number, {})
    for _ in range(200):
        current = await core.database.read(run_store.get_run, run.id)
        if current is not None and current.status != PENDING:
            break
        await asyncio.sleep(0.05)
    await worker.stop()
    claimed_again = await core.database.read(run_store.get_run, run.id)
    tasks = await core.database.write(
        claims.claim, owner="next", limit=1, now=utcnow(), lease_until=utcnow(),
    )
    assert claimed_again is not None and not claimed_again.is_final
    assert len(tasks) == 1 and tasks[0].run_id == run.id and tasks[0].attempt == 1
