"""PostgreSQL LISTEN/NOTIFY: another process's new work and ended runs are heard at once."""

from __future__ import annotations

import asyncio

import pytest

from runplane.clock import utcnow
from runplane.core import instances, runs, scripts
from runplane.core.context import Core, open_core, start_listening
from runplane.model import SUCCESS, ApiKey, TaskResult
from runplane.settings import Settings
from runplane.store import claims, queue

pytestmark = pytest.mark.anyio


async def test_a_second_process_hears_new_work_and_ended_runs(
    core: Core, admin: ApiKey, database_url: str
) -> None:
    if not core.database.is_postgres:
        assert start_listening(core) is None  # SQLite: other processes poll
        return
    other = await open_core(Settings(database=database_url))
    listener = start_listening(other)
    assert listener is not None
    try:
        await asyncio.sleep(0.3)  # let it LISTEN
        woken = other.signals.work_event(("script", "service"))
        work = asyncio.create_task(woken.wait())
        await instances.create(core, admin, {"name": "notify"})
        script = await scripts.create(
            core, admin, "notify", {"label": "s", "runtime_name": "python3", "source": "pass"}
        )
        _, run = await runs.run_script(core, admin, "notify", script.number, {})
        await asyncio.wait_for(work, 5)
        ended = other.signals.watch_run(run.id)
        now = utcnow()
        [task] = await core.database.write(
            claims.claim, owner="w", limit=1, now=now, lease_until=now
        )
        await core.database.write(queue.finish_task, task_id=task.task_id, owner="w",
                                  result=TaskResult(
            status=SUCCESS, exit_code=0, stdout="", stderr="", output_truncated=False,
            started_at=now, finished_at=now, duration_ms=0,
        ))
        await asyncio.wait_for(ended.wait(), 5)
    finally:
        await listener.stop()
        await other.database.close()
