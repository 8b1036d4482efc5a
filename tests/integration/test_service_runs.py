"""Service runs on a real database, without workers: runtimes stay unique under a frozen clock,
a stopped run whose targets were all queued ends Aborted at once; and three faults of the
queue and worker found with the service door (a claim sorting the whole queue, a stop that
loses a result being recorded, a stop racing a claim on PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import event, func, select

from runplane.api.dialects import enms_runs as service_door
from runplane.clock import utcnow
from runplane.core import inventory, service_runs, services
from runplane.core.context import Core
from runplane.core.instances import create as create_instance
from runplane.core.runs import wait_for_run
from runplane.engine import worker as worker_module
from runplane.engine.runner import start_worker
from runplane.model import ABORTED, SUCCESS, Instance
from runplane.store import claims, queue
from runplane.store import runs as run_store
from runplane.store.tables import runs

pytestmark = pytest.mark.anyio

FROZEN = datetime(2020, 4, 28, 12, 21, 11, 404910, tzinfo=UTC)
SNIPPET = "results['success'] = True"


@pytest.fixture
async def instance(core: Core) -> Instance:
    made = await create_instance(core, None, {"name": "svc"})
    await services.save(core, made, {"name": "frozen", "source_code": SNIPPET})
    return made


async def test_runtimes_are_unique_when_the_clock_stands_still(
    core: Core, instance: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_runs, "utcnow", lambda: FROZEN)
    body = {"name": "frozen", "async": True}
    one_by_one = [(await service_door.run_service(core, instance, body))["runtime"]
                  for _ in range(5)]
    # The same instant each time: the microsecond is bumped past the runtimes taken.
    assert one_by_one == [f"2020-04-28 12:21:11.40491{bump}" for bump in range(5)]

    at_once = await asyncio.gather(*(service_door.run_service(core, instance, body)
                                     for _ in range(8)))
    runtimes = [answer["runtime"] for answer in at_once]
    assert len(set(runtimes) | set(one_by_one)) == 13
    assert all(runtime.startswith("2020-04-28 12:21:11.4049") for runtime in runtimes)

    # Each runtime names its own run.
    found = {(await service_runs.find_run(core, instance, runtime)).id
             for runtime in [*one_by_one, *runtimes]}
    assert len(found) == 13


async def test_runtimes_are_unique_across_instances(
    core: Core, instance: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = await create_instance(core, None, {"name": "svc-2"})
    await services.save(core, other, {"name": "frozen", "source_code": SNIPPET})
    monkeypatch.setattr(service_runs, "utcnow", lambda: FROZEN)
    first = await service_door.run_service(core, instance, {"name": "frozen", "async": True})
    second = await service_door.run_service(core, other, {"name": "frozen", "async": True})
    assert first["runtime"] != second["runtime"]
    # A runtime is only visible in its own instance.
    result = await service_door.result(core, other, "frozen", second["runtime"])
    assert result == {"status": "Running", "result": "No results yet."}
    assert await service_door.result(core, other, "frozen", first["runtime"]) == {
        "error": "There are no results or on-going services for the requested service and "
                 "runtime."}


async def test_stopping_a_run_with_only_queued_targets_aborts_it_at_once(
    core: Core, instance: Instance
) -> None:
    report = await inventory.save_devices(core, instance, [{"name": n} for n in ("a", "b", "c")])
    assert report.failure == []
    answer = await service_door.run_service(
        core, instance, {"name": "frozen", "devices": ["a", "b", "c"], "async": True})
    stopped = await service_door.stop(core, instance, answer["runtime"])
    assert stopped == {"runtime": answer["runtime"], "stopped": True, "status": "Aborted",
                       "aborted": ["a", "b", "c"], "stopping": []}
    result = await service_door.result(core, instance, "frozen", answer["runtime"])
    assert result["status"] == "Aborted"
    assert result["result"]["success"] is False
    assert result["result"]["summary"] == {"success": [], "failure": ["a", "b", "c"],
                                           "discard": []}
    again = await service_door.stop(core, instance, answer["runtime"])
    assert (again["stopped"], again["status"]) == (False, "Aborted")


async def test_unknown_targets_queue_no_run(core: Core, instance: Instance) -> None:
    submitted = await service_runs.submit(
        core, instance, service_door.run_request(
            {"name": "frozen", "devices": ["ghost"], "async": True}))
    assert submitted.run is None
    assert submitted.errors == ["No device with the name 'ghost'"]
    # Ignoring invalid targets when none is valid leaves nothing to run.
    ignored = await service_runs.submit(
        core, instance, service_door.run_request(
            {"name": "frozen", "pools": ["nope"], "ignore_invalid_targets": True}))
    assert ignored.run is None
    assert ignored.errors == ["No pool with the name 'nope'"]
    count = await core.database.read(lambda conn: conn.execute(
        select(func.count()).select_from(runs).where(runs.c.instance_id == instance.id)
    ).scalar_one())
    assert count == 0


async def test_claiming_does_not_sort_every_queued_task(core: Core, instance: Instance) -> None:
    """A claim must not read and sort the whole queue: with a 10,000-target run queued, the
    candidate query should walk an index in id order (SQLite: no temp B-tree; PostgreSQL: no
    Sort node). Today the order by id after a range on available_at sorts them all, once per
    claim, inside the write transaction (about 4 ms per claim at 10,000 queued on SQLite)."""
    now = datetime.now(UTC)
    await core.database.write(
        run_store.insert_run, instance_id=instance.id, kind="service", script_id=None, number=None,
        trigger="rest", payload={}, meta={}, targets=[f"t{i}" for i in range(10_000)],
        max_attempts=3, now=now, max_parallel=50,
    )
    seen: list[tuple[str, Any]] = []

    def candidate_query(statement: str, parameters: Any = ()) -> None:
        if "ORDER BY tasks.id" in statement and "JOIN runs" in statement:
            seen.append((statement, parameters))

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                executemany: bool) -> None:
        candidate_query(statement, parameters)

    def claim_traced(conn: Any, **given: Any) -> Any:
        # On SQLite the claim's statements run on the driver (store/driver_sql.py): they are
        # seen by its trace callback, with their values in the text, not by SQLAlchemy.
        driver = conn.connection.driver_connection
        if not core.database.is_postgres:
            driver.set_trace_callback(candidate_query)
        try:
            return claims.claim(conn, **given)
        finally:
            if not core.database.is_postgres:
                driver.set_trace_callback(None)

    engine = core.database.engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        claimed = await core.database.write(
            claim_traced, owner="probe", limit=4, now=utcnow(),
            lease_until=utcnow() + timedelta(seconds=30),
        )
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert len(claimed) == 4
    assert len(seen) == 1, seen
    statement, parameters = seen[0]

    def explain(conn: Any) -> list[Any]:
        if core.database.is_postgres:
            conn.exec_driver_sql("ANALYZE tasks")
            return conn.exec_driver_sql("EXPLAIN " + statement, parameters).all()
        return conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()

    rows = await core.database.read(explain)
    plan = "\n".join(" ".join(str(value) for value in row) for row in rows)
    assert "TEMP B-TREE" not in plan.upper() and "Sort " not in plan, plan


async def test_a_stop_landing_while_a_result_is_recorded_still_ends_the_run(
    core: Core, instance: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's stop loop cancels the whole perform() of a stopped run's task, recording
    included: a stop arriving while a finished target's result is being written (most of a
    trivial target's time) loses that result; the task stays running, its lease renewed for
    ever, and the run never ends. Here recording is made slow so the stop lands in it."""
    await inventory.save_devices(core, instance, [{"name": "a"}])
    recording = asyncio.Event()
    real_record = worker_module.Worker.record

    async def slow_record(self: worker_module.Worker, task: Any, result: Any) -> None:
        recording.set()
        await asyncio.sleep(1.0)  # a busy database
        await real_record(self, task, result)

    monkeypatch.setattr(worker_module.Worker, "record", slow_record)
    worker = await start_worker(core)
    try:
        answer = await service_door.run_service(
            core, instance, {"name": "frozen", "devices": ["a"], "async": True})
        await asyncio.wait_for(recording.wait(), 30)
        stopped = await service_door.stop(core, instance, answer["runtime"])
        assert stopped["stopping"] == ["a"]
        run = await service_runs.find_run(core, instance, answer["runtime"])
        ended = await wait_for_run(core, run.id, timeout=10)
    finally:
        await worker.stop()
    assert ended is not None, "the stopped run never ended: its task's result was lost"
    assert ended.status in (ABORTED, SUCCESS)


class StopDuringClaim:
    """A connection for claims.claim that stops the run (in another transaction, committed)
    right after the claim has read its candidates, before it marks them running."""

    def __init__(self, conn: Any, stop: Any) -> None:
        self._conn = conn
        self._stop = stop
        self.fired = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        result = self._conn.execute(statement, *args, **kwargs)
        if not self.fired and "ORDER BY tasks.id" in str(statement):
            self.fired = True
            rows = result.all()
            self._stop()
            return SimpleNamespace(all=lambda: rows)
        return result


async def test_a_target_aborted_by_a_stop_is_never_claimed(
    core: Core, instance: Instance
) -> None:
    """PostgreSQL: the claim neither locks its candidates (FOR UPDATE SKIP LOCKED) nor
    re-checks `status = queued` when it marks them running, so a stop committed between the
    two has its aborted targets claimed and run anyway, and counted twice in the run."""
    if not core.database.is_postgres:
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE): a stop cannot land mid-claim")
    await inventory.save_devices(core, instance, [{"name": n} for n in ("a", "b", "c")])
    answer = await service_door.run_service(
        core, instance, {"name": "frozen", "devices": ["a", "b", "c"], "async": True})
    run = await service_runs.find_run(core, instance, answer["runtime"])
    aborted: list[str | None] = []

    def stop() -> None:
        # Its own connection and transaction, committed while the claim's is open.
        with core.database.engine.begin() as other:
            outcome = queue.request_stop(other, run.id, now=utcnow())
        aborted.extend(outcome.aborted)

    def claim_with_probe(conn: Any) -> list[Any]:
        nonlocal probe
        probe = StopDuringClaim(conn, stop)
        return claims.claim(probe, owner="probe", limit=4, now=utcnow(),
                           lease_until=utcnow() + timedelta(seconds=30))

    probe: StopDuringClaim | None = None
    claimed = await core.database.write(claim_with_probe)
    assert probe is not None
    assert probe.fired
    assert sorted(name or "" for name in aborted) == ["a", "b", "c"]
    assert [task.target for task in claimed] == [], "aborted targets were claimed"
