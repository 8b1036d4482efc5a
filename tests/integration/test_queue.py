"""The queue on a real database: claims, leases, expiry, attempts, and concurrent claimers."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from runplane.clock import utcnow
from runplane.core import instances, runs, scripts
from runplane.core.context import Core
from runplane.model import FAILURE, PROCESSING, SUCCESS, ApiKey, Run, TaskResult
from runplane.store import claims, leases, queue
from runplane.store import instances as instance_store
from runplane.store import runs as run_store
from runplane.store.database import Database

pytestmark = pytest.mark.anyio


def ok_result() -> TaskResult:
    now = utcnow()
    return TaskResult(
        status=SUCCESS, exit_code=0, stdout="done", stderr="", output_truncated=False,
        started_at=now, finished_at=now, duration_ms=1,
    )


async def queue_runs(core: Core, admin: ApiKey, count: int) -> list[int]:
    await instances.create(core, admin, {"name": "queue-test"})
    script = await scripts.create(
        core, admin, "queue-test", {"label": "s", "runtime_name": "python3", "source": "pass"}
    )
    ids = []
    for index in range(count):
        _, run = await runs.run_script(core, admin, "queue-test", script.number, {"i": index})
        ids.append(run.id)
    return ids


async def service_run(core: Core, admin: ApiKey, instance_name: str, targets: list[str],
                      max_parallel: int | None = None) -> Run:
    """A service run of `targets` in a new instance, inserted straight into the store."""
    await instances.create(core, admin, {"name": instance_name})
    instance = await core.database.read(instance_store.get_instance, instance_name)
    assert instance is not None
    return await core.database.write(
        run_store.insert_run, instance_id=instance.id, kind="service", script_id=None,
        number=None, trigger="api", payload={}, meta={}, targets=targets,
        max_attempts=3, now=utcnow(), max_parallel=max_parallel,
    )


async def claim(core: Core, owner: str, limit: int, lease: float = 30.0) -> list[int]:
    now = utcnow()
    claimed = await core.database.write(
        claims.claim, owner=owner, limit=limit, now=now, lease_until=now + timedelta(seconds=lease),
    )
    return [task.task_id for task in claimed]


async def test_claim_takes_oldest_first_and_marks_the_run_processing(
    core: Core, admin: ApiKey
) -> None:
    run_ids = await queue_runs(core, admin, 3)
    now = utcnow()
    claimed = await core.database.write(
        claims.claim, owner="w1", limit=2, now=now, lease_until=now + timedelta(seconds=30),
    )
    assert [task.run_id for task in claimed] == run_ids[:2]
    assert claimed[0].payload == {"i": 0} and claimed[0].attempt == 1
    assert claimed[0].script is not None and claimed[0].script.source == "pass"
    assert claimed[0].kind == "script" and claimed[0].instance_name == "queue-test"
    first = await core.database.read(run_store.get_run, run_ids[0])
    third = await core.database.read(run_store.get_run, run_ids[2])
    assert first is not None and first.status == PROCESSING and first.started_at is not None
    assert third is not None and third.status == "pending"


async def test_finishing_the_last_task_ends_the_run(core: Core, admin: ApiKey) -> None:
    [run_id] = await queue_runs(core, admin, 1)
    [task_id] = await claim(core, "w1", 1)
    recorded = await core.database.write(
        queue.finish_task, task_id=task_id, owner="w1", result=ok_result(),
    )
    assert recorded.accepted
    assert recorded.finished_run is not None and recorded.finished_run.status == SUCCESS
    run = await core.database.read(run_store.get_run, run_id, with_output=True)
    assert run is not None and run.status == SUCCESS and run.finished_at is not None
    assert run.output is not None and run.output.stdout == "done"


async def test_a_worker_that_lost_its_lease_cannot_record(core: Core, admin: ApiKey) -> None:
    await queue_runs(core, admin, 1)
    [task_id] = await claim(core, "w1", 1, lease=-1)  # already expired
    assert await core.database.write(leases.requeue_expired, now=utcnow()) == 1
    [again] = await claim(core, "w2", 1)
    assert again == task_id
    stale = await core.database.write(
        queue.finish_task, task_id=task_id, owner="w1", result=ok_result()
    )
    fresh = await core.database.write(
        queue.finish_task, task_id=task_id, owner="w2", result=ok_result()
    )
    assert not stale.accepted
    assert fresh.accepted and fresh.finished_run is not None


async def test_expired_lease_on_the_last_attempt_fails_with_a_clear_error(
    core: Core, admin: ApiKey
) -> None:
    [run_id] = await queue_runs(core, admin, 1)
    for attempt in range(core.settings.max_attempts):
        claimed = await claim(core, f"dead-worker-{attempt}", 1, lease=-1)
        assert len(claimed) == 1
        _, finished = await core.database.write(leases.reap, now=utcnow())
    assert [item.run_id for item in finished] == [run_id]
    run = await core.database.read(run_store.get_run, run_id, with_output=True)
    assert run is not None and run.status == FAILURE
    assert run.output is not None and "stopped responding 3 time(s)" in (run.output.stderr or "")
    assert await claim(core, "w-late", 5) == []


async def test_renewing_keeps_a_lease_alive(core: Core, admin: ApiKey) -> None:
    await queue_runs(core, admin, 2)
    held_ids = await claim(core, "w1", 2, lease=0.5)
    # Only the tasks it names: a lease the worker lost track of is left to expire.
    held = await core.database.write(
        leases.renew_leases, owner="w1", task_ids=held_ids[:1],
        lease_until=utcnow() + timedelta(seconds=60),
    )
    assert held == 1
    later = utcnow() + timedelta(seconds=5)
    assert await core.database.write(leases.requeue_expired, now=later) == 1  # the other


async def test_release_gives_tasks_back_without_spending_an_attempt(
    core: Core, admin: ApiKey
) -> None:
    await queue_runs(core, admin, 2)
    await claim(core, "w1", 2)
    assert await core.database.write(queue.release, owner="w1", now=utcnow()) == 2
    now = utcnow()
    again = await core.database.write(
        claims.claim, owner="w2", limit=5, now=now, lease_until=now + timedelta(seconds=30),
    )
    assert len(again) == 2 and all(task.attempt == 1 for task in again)


async def test_concurrent_claimers_never_take_the_same_task(
    core: Core, admin: ApiKey, database_url: str
) -> None:
    """Four claimers, each with its own connection pool, race for 60 tasks."""
    await queue_runs(core, admin, 60)
    databases = [Database(database_url) for _ in range(4)]

    async def drain(database: Database, owner: str) -> list[int]:
        taken: list[int] = []
        while True:
            now = utcnow()
            batch = await database.write(
                claims.claim, owner=owner, limit=3, now=now,
                lease_until=now + timedelta(seconds=30),
            )
            if not batch:
                return taken
            taken.extend(task.task_id for task in batch)
            await asyncio.sleep(0)

    try:
        results = await asyncio.gather(
            *(drain(database, f"w{index}") for index, database in enumerate(databases))
        )
    finally:
        for database in databases:
            await database.close()
    everything = [task for taken in results for task in taken]
    assert len(everything) == 60
    assert len(set(everything)) == 60


async def test_instance_limit_keeps_extra_runs_pending(core: Core, admin: ApiKey) -> None:
    run_ids = await queue_runs(core, admin, 5)
    now = utcnow()
    lease = now + timedelta(seconds=30)
    first = await core.database.write(
        claims.claim, owner="w1", limit=5, now=now, lease_until=lease, instance_limit=2,
    )
    second = await core.database.write(
        claims.claim, owner="w2", limit=5, now=now, lease_until=lease, instance_limit=2,
    )
    assert [task.run_id for task in first] == run_ids[:2]
    assert second == []
    waiting = await core.database.read(run_store.get_run, run_ids[2])
    assert waiting is not None and waiting.status == "pending"
    await core.database.write(
        queue.finish_task, task_id=first[0].task_id, owner="w1", result=ok_result()
    )
    third = await core.database.write(
        claims.claim, owner="w2", limit=5, now=now, lease_until=lease, instance_limit=2
    )
    assert [task.run_id for task in third] == [run_ids[2]]


async def test_run_max_parallel_is_respected_across_claims(core: Core, admin: ApiKey) -> None:
    run = await service_run(core, admin, "fanout", [f"d{i}" for i in range(10)], max_parallel=3)
    now = utcnow()
    lease = now + timedelta(seconds=30)
    taken: list[int] = []
    for owner in ("w1", "w2", "w3"):
        claimed = await core.database.write(
            claims.claim, owner=owner, limit=10, now=now, lease_until=lease
        )
        taken += [task.task_id for task in claimed]
    assert len(taken) == 3
    current = await core.database.read(run_store.get_run, run.id)
    assert current is not None and current.status == "processing"


async def test_a_group_s_results_are_counted_once_and_end_the_run_with_the_last(
    core: Core, admin: ApiKey
) -> None:
    run = await service_run(core, admin, "group", ["a", "b", "c", "d"])
    ids = await claim(core, "w1", 4)
    failed = TaskResult(status=FAILURE, exit_code=1, stdout="", stderr="boom",
                        output_truncated=False, started_at=utcnow(), finished_at=utcnow(),
                        duration_ms=1)
    # Three results and one task given back (its process never began it).
    first = await core.database.write(
        queue.finish_tasks, owner="w1", now=utcnow(), lone=False,
        outcomes=[(ids[0], ok_result()), (ids[1], failed), (ids[2], ok_result()),
                  (ids[3], None)],
    )
    assert [item.accepted for item in first] == [True, True, True]
    assert all(item.finished_run is None for item in first)
    current = await core.database.read(run_store.get_run, run.id)
    assert current is not None and (current.tasks_done, current.tasks_failed) == (3, 1)
    [again] = await claim(core, "w2", 4)
    assert again == ids[3]  # back in the queue, its attempt unspent
    [last] = await core.database.write(
        queue.finish_tasks, owner="w2", now=utcnow(), outcomes=[(again, ok_result())],
    )
    assert last.finished_run is not None and last.finished_run.status == FAILURE
    ended = await core.database.read(run_store.get_run, run.id)
    assert ended is not None and ended.tasks_done == 4 and ended.status == FAILURE


async def test_a_claim_reaches_past_a_blocked_run_s_tasks_to_unlimited_ones(
    core: Core, admin: ApiKey
) -> None:
    """One slot looks at 8 candidates: the 9 waiting tasks of a run at its limit must be left
    out in the query itself, or the script run queued behind them would never be reached."""
    limited = await service_run(core, admin, "mixed", [f"d{i}" for i in range(10)], max_parallel=1)
    script = await scripts.create(
        core, admin, "mixed", {"label": "s", "runtime_name": "python3", "source": "pass"}
    )
    _, unlimited = await runs.run_script(core, admin, "mixed", script.number, {})
    now = utcnow()

    async def claim_one() -> claims.Claimed:
        return await core.database.write(
            claims.claim_tasks, owner="w1", limit=1, now=now,
            lease_until=now + timedelta(seconds=30),
        )

    first, second, third = await claim_one(), await claim_one(), await claim_one()
    assert [task.run_id for task in first.tasks] == [limited.id]
    assert [task.run_id for task in second.tasks] == [unlimited.id]
    assert second.held_back  # the limited run's tasks wait for its running one
    assert third.tasks == [] and third.held_back


async def test_an_unlimited_claim_says_whether_work_may_wait_beyond_its_window(
    core: Core, admin: ApiKey
) -> None:
    await queue_runs(core, admin, 10)
    now = utcnow()
    lease = now + timedelta(seconds=30)
    # One slot, a window of 8 candidates, all 8 unlimited: what lies beyond is unknown.
    full = await core.database.write(
        claims.claim_tasks, owner="w1", limit=1, now=now, lease_until=lease)
    # Nine left, five slots, a window of 40: every queued task was seen, none is limited.
    rest = await core.database.write(
        claims.claim_tasks, owner="w1", limit=5, now=now, lease_until=lease)
    assert len(full.tasks) == 1 and full.held_back
    assert len(rest.tasks) == 5 and not rest.held_back
