"""Batches over a real database: submitted in one transaction, driven in order by a worker,
resumed after an interrupted driver without running answered jobs again, finished with their
callback in the outbox, restarted, reposted and pruned."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runplane.api.batch_door import batches
from runplane.api.batch_door.envelope import (
    NOT_SAVED,
    PROGRESS_NOT_FOUND,
    REPOST_NOT_FINISHED,
    RESTART_NOT_FINISHED,
    RESULTS_NOT_COMPLETED,
    RESULTS_NOT_FOUND,
    BatchError,
)
from runplane.clock import utcnow
from runplane.core import batches as batch_core
from runplane.core import instances, runs, scripts
from runplane.core.context import Core
from runplane.delivery import retention
from runplane.delivery.bodies import render
from runplane.engine.batch_performer import perform_batch
from runplane.engine.performers import WorkerContext
from runplane.engine.runner import start_worker
from runplane.engine.worker import Worker
from runplane.errors import StoreUnavailable
from runplane.model import SUCCESS, ApiKey, ClaimedTask
from runplane.model.batches import JOB_RUNNING, Batch
from runplane.model.callbacks import CALLBACK_PENDING
from runplane.store import batches as batch_store
from runplane.store import claims, queue
from runplane.store import outbox as outbox_store
from runplane.store import runs as run_store
from tests.support.scratch import scratch_dir

pytestmark = pytest.mark.anyio
INSTANCE = "batchy"
# Resolves without DNS; the receiver is not needed here (no sender runs).
CALLBACK = "http://127.0.0.1:9/callback"


@pytest.fixture
async def ready(core: Core, admin: ApiKey) -> ApiKey:
    core.settings.poll_interval = 0.05
    await instances.create(core, admin, {"name": INSTANCE})
    return admin


@pytest.fixture
async def worker(core: Core) -> AsyncIterator[Worker]:
    running = await start_worker(core)
    yield running
    await running.stop()


def device_job(name: str, **fields: Any) -> dict[str, Any]:
    return {"namespace": "device", "action": "create", "params": {"name": name, **fields}}


async def submit(core: Core, key: ApiKey, jobs: list[dict[str, Any]]) -> batches.Submitted:
    return await batches.submit(core, key, INSTANCE, {"jobs": jobs, "callbackUrl": CALLBACK})


async def wait_finished(core: Core, key: ApiKey, async_id: str, timeout: float = 60
                        ) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while await batches.progress(core, key, INSTANCE, async_id) < 100:
        assert asyncio.get_running_loop().time() < deadline, "batch did not finish"
        await asyncio.sleep(0.05)
    return await batches.results(core, key, INSTANCE, async_id)


async def batch_record(core: Core, submitted: batches.Submitted) -> Batch:
    found = await core.database.read(batch_store.batch_by_id, submitted.batch_id)
    assert found is not None
    return found


@dataclass(frozen=True)
class Queued:
    """An outbox entry with the body its receiver gets (rendered from the entry's record)."""

    url: str
    status: str
    body: Any


async def outbox_of(core: Core, batch_id: int) -> list[Queued]:
    entries = await core.database.read(outbox_store.entries_for, batch_core.BATCH_SUBJECT,
                                       batch_id)
    return [Queued(entry.url, entry.status, render(entry.record)) for entry in entries]


async def test_jobs_run_in_order_and_the_callback_is_queued_with_the_end(
    core: Core, ready: ApiKey, worker: Worker
) -> None:
    submitted = await submit(core, ready, [
        device_job("r1", vendor="Cisco"),
        {"namespace": "device", "action": "get", "params": {"name": "r1"}},
        {"namespace": "pool", "action": "create",
         "params": {"name": "cisco", "device_vendor": "Cisco", "device_vendor_match": "equality"}},
        {"namespace": "pool", "action": "get", "params": {"name": "cisco"}},
    ])
    assert len(submitted.async_id) == 32 and int(submitted.async_id, 16) >= 0
    answer = await wait_finished(core, ready, submitted.async_id)
    responses = [item["response"] for item in answer["results"]]
    assert [item["action"] for item in answer["results"]] == ["create", "get", "create", "get"]
    assert responses[0]["name"] == "r1" and responses[0]["vendor"] == "Cisco"
    # The second job saw the first one's effect, the fourth the third's.
    assert responses[1]["name"] == "r1"
    assert responses[3]["device_count"] == 1
    assert answer["results"][0]["request"] == {"name": "r1", "vendor": "Cisco"}
    batch = await batch_record(core, submitted)
    entries = await outbox_of(core, batch.id)
    assert len(entries) == 1 and entries[0].url == CALLBACK
    assert entries[0].body == answer and entries[0].status == CALLBACK_PENDING
    # The driver's task is recorded by its worker just after the batch's last commit.
    driver = await runs.wait_for_run(core, submitted.run_id, 30)
    assert driver is not None and driver.status == SUCCESS


async def test_the_seeds_example_gives_two_error_answers_and_a_callback(
    core: Core, ready: ApiKey, worker: Worker
) -> None:
    jobs = [
        {"namespace": "event", "action": "inviteContacts",
         "params": {"event": 1, "contacts": [1, 2, 3]}},
        {"namespace": "event", "action": "inviteContacts",
         "params": {"event": 2, "contacts": [1, 2, 4]}},
    ]
    submitted = await submit(core, ready, jobs)
    answer = await wait_finished(core, ready, submitted.async_id)
    assert [item["request"] for item in answer["results"]] == [job["params"] for job in jobs]
    for item in answer["results"]:
        assert item["response"]["errorCode"] == 404
        assert item["response"]["specificCode"] == 24201
        assert "event" in item["response"]["message"]
    assert len(await outbox_of(core, (await batch_record(core, submitted)).id)) == 1


async def test_bad_params_and_unknown_actions_answer_errors_and_the_batch_goes_on(
    core: Core, ready: ApiKey, worker: Worker
) -> None:
    submitted = await submit(core, ready, [
        {"namespace": "device", "action": "explode", "params": {"name": "x"}},
        {"namespace": "device", "action": "create", "params": {"vendor": "no name"}},
        {"namespace": "script", "action": "get", "params": {"id": "not a number"}},
        {"namespace": "script", "action": "get", "params": {"id": 999}},
        device_job("after-the-errors"),
        device_job("after-the-errors"),
    ])
    answer = await wait_finished(core, ready, submitted.async_id)
    codes = [item["response"].get("specificCode") for item in answer["results"]]
    assert codes == [24202, 24203, 24203, 24204, None, 24205]
    assert any("name" in message for message in answer["results"][1]["response"][
        "additionalMessages"])
    assert answer["results"][4]["response"]["name"] == "after-the-errors"


async def test_a_batch_of_a_thousand_jobs_completes(
    core: Core, ready: ApiKey, worker: Worker
) -> None:
    jobs = [device_job(f"dev-{index:04d}", ip_address=f"10.0.{index // 250}.{index % 250}")
            for index in range(1000)]
    submitted = await submit(core, ready, jobs)
    answer = await wait_finished(core, ready, submitted.async_id, timeout=240)
    assert len(answer["results"]) == 1000
    assert [item["response"]["name"] for item in answer["results"]] == [
        f"dev-{index:04d}" for index in range(1000)
    ]
    entries = await outbox_of(core, (await batch_record(core, submitted)).id)
    assert len(entries) == 1 and len(entries[0].body["results"]) == 1000


async def test_progress_counts_jobs_and_results_wait_for_the_end(
    core: Core, ready: ApiKey
) -> None:
    submitted = await submit(core, ready, [device_job(f"p{index}") for index in range(3)])
    assert await batches.progress(core, ready, INSTANCE, submitted.async_id) == 0
    with pytest.raises(BatchError) as not_done:
        await batches.results(core, ready, INSTANCE, submitted.async_id)
    assert not_done.value.code == RESULTS_NOT_COMPLETED
    for operation in (batches.restart, batches.repost):
        with pytest.raises(BatchError) as running:
            await operation(core, ready, INSTANCE, submitted.async_id)
        assert running.value.code in (RESTART_NOT_FINISHED, REPOST_NOT_FINISHED)
    batch = await batch_record(core, submitted)
    jobs = await core.database.read(batch_store.jobs_of, batch.id)
    await core.database.write(batch_store.record_job, batch_id=batch.id, job_id=jobs[0].id,
                              response={"ok": 1}, now=utcnow())
    assert await batches.progress(core, ready, INSTANCE, submitted.async_id) == 33


async def test_unknown_batches_are_not_found(core: Core, ready: ApiKey) -> None:
    for operation, code in ((batches.progress, PROGRESS_NOT_FOUND),
                            (batches.results, RESULTS_NOT_FOUND)):
        for unknown in ("0" * 32, None, 42):
            with pytest.raises(BatchError) as missing:
                await operation(core, ready, INSTANCE, unknown)
            assert missing.value.code == code and missing.value.status == 404


async def test_a_failing_store_answers_information_not_saved(
    core: Core, ready: ApiKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> int:
        raise StoreUnavailable("disk full")

    monkeypatch.setattr(batch_store, "insert_batch", broken)
    with pytest.raises(BatchError) as failed:
        await submit(core, ready, [device_job("lost")])
    assert failed.value.code == NOT_SAVED and failed.value.status == 503
    # Nothing of it was kept: the driver run was in the same, rolled back, transaction.
    assert await core.database.write(claims.claim, owner="x", limit=5, now=utcnow(),
                                     lease_until=utcnow(), kinds=("batch",)) == []


async def test_the_door_answers_24091_when_the_store_fails(
    core: Core, ready: ApiKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over HTTP (the app in-process): a write that fails, and a database that is gone."""
    import httpx

    from runplane.api.app import create_app
    from runplane.core.context import Core as CoreType
    from runplane.store.database import Database

    def broken(*args: object, **kwargs: object) -> int:
        raise StoreUnavailable("disk full")

    first = await bootstrap_key(core)
    app = create_app(core.settings)
    app.state.core = core
    body = {"jobs": [device_job("lost")], "callbackUrl": CALLBACK}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://runplane") as http:
        monkeypatch.setattr(batch_store, "insert_batch", broken)
        answer = await http.post("/api/1.0/batch", params={"action": "run", "instance": INSTANCE},
                                 json=body, headers={"X-API-KEY": first})
        assert answer.status_code == 503 and answer.json()["specificCode"] == 24091
        assert answer.json()["message"] == "The information was not saved"
        monkeypatch.undo()
        gone = Database("sqlite:////no-such-directory-of-runplane/gone.db")
        app.state.core = CoreType(settings=core.settings, database=gone,
                                  key_secret=core.key_secret)
        answer = await http.post("/api/1.0/batch", params={"action": "run", "instance": INSTANCE},
                                 json=body, headers={"X-API-KEY": first})
        assert answer.status_code == 503 and answer.json()["specificCode"] == 24091
        await gone.close()


async def bootstrap_key(core: Core) -> str:
    from runplane.core.access import Role
    from runplane.core.keys import create_key

    return await create_key(core, role=Role.admin)


async def test_restart_runs_again_and_repost_queues_the_callback_again(
    core: Core, ready: ApiKey, worker: Worker
) -> None:
    submitted = await submit(core, ready, [device_job("again")])
    first = await wait_finished(core, ready, submitted.async_id)
    assert first["results"][0]["response"]["name"] == "again"
    await batches.restart(core, ready, INSTANCE, submitted.async_id)
    second = await wait_finished(core, ready, submitted.async_id)
    # Run again: the device exists now, so the new answer differs (new job results).
    assert second["results"][0]["response"]["specificCode"] == 24205
    batch = await batch_record(core, submitted)
    assert [entry.body for entry in await outbox_of(core, batch.id)] == [first, second]
    await batches.repost(core, ready, INSTANCE, submitted.async_id)
    entries = await outbox_of(core, batch.id)
    assert len(entries) == 3 and entries[2].body == second


async def test_expired_batches_are_pruned_and_then_not_found(
    core: Core, ready: ApiKey, worker: Worker
) -> None:
    kept = await submit(core, ready, [device_job("kept")])
    expired = await submit(core, ready, [device_job("expired")])
    await wait_finished(core, ready, kept.async_id)
    await wait_finished(core, ready, expired.async_id)
    core.settings.batch_retention_seconds = 3600
    assert (await retention.prune(core.database, core.settings))[0] == 0
    expired_id = (await batch_record(core, expired)).id
    await core.database.write(  # finished long ago
        batch_store.finish, expired_id, utcnow().replace(year=2000)
    )
    assert (await retention.prune(core.database, core.settings))[0] == 1
    with pytest.raises(BatchError) as gone:
        await batches.progress(core, ready, INSTANCE, expired.async_id)
    assert gone.value.code == PROGRESS_NOT_FOUND
    with pytest.raises(BatchError) as gone:
        await batches.results(core, ready, INSTANCE, expired.async_id)
    assert gone.value.code == RESULTS_NOT_FOUND
    assert (await batches.results(core, ready, INSTANCE, kept.async_id))["asyncId"]
    assert await core.database.read(run_store.get_run, expired.run_id) is None


# Interrupted drivers ---------------------------------------------------------------------


async def claim_driver(core: Core, owner: str) -> ClaimedTask:
    now = utcnow()
    claimed = await core.database.write(
        claims.claim, owner=owner, limit=1, now=now, lease_until=now.replace(year=now.year + 1),
        kinds=("batch",),
    )
    assert len(claimed) == 1
    return claimed[0]


async def jobs_done(core: Core, submitted: batches.Submitted) -> int:
    return (await batch_record(core, submitted)).jobs_done


async def test_a_resumed_driver_skips_answered_jobs_and_waits_for_the_run_it_started(
    core: Core, ready: ApiKey, worker: Worker, tmp_path: Path
) -> None:
    marks = scratch_dir()  # where its confined runs may write
    # O_EXCL: a script run twice for one job fails the second time.
    script = await scripts.create(core, ready, INSTANCE, {
        "label": "mark", "runtime_name": "python3", "source": (
            "import os, time\n"
            "time.sleep(ARGS['sleep'])\n"
            "os.close(os.open(os.path.join(ARGS['dir'], ARGS['name']), "
            "os.O_CREAT | os.O_EXCL | os.O_WRONLY))\n"
            "print('marked', ARGS['name'])\n"
        ),
    })
    worker.lanes[1].slots = 0  # this test drives the batch by hand
    submitted = await submit(core, ready, [
        device_job("first"),
        device_job("second"),
        {"namespace": "script", "action": "run",
         "params": {"id": script.number, "payload": {"dir": str(marks), "name": "slow",
                                                      "sleep": 1.5}}},
        device_job("fourth"),
    ])
    context = WorkerContext(core=core, executor=worker.executor, worker_name="driver-1")
    task = await claim_driver(core, "driver-1")
    driving = asyncio.create_task(perform_batch(context, task))
    while await jobs_done(core, submitted) < 2:
        await asyncio.sleep(0.02)
    batch = await batch_record(core, submitted)
    for _ in range(200):  # the script job has started its run
        jobs = await core.database.read(batch_store.jobs_of, batch.id)
        if jobs[2].run_id is not None:
            break
        await asyncio.sleep(0.02)
    assert jobs[2].run_id is not None and jobs[2].status == JOB_RUNNING
    driving.cancel()  # the driver dies mid-job
    await asyncio.gather(driving, return_exceptions=True)
    assert await core.database.write(queue.release, owner="driver-1", now=utcnow()) == 1

    resumed = WorkerContext(core=core, executor=worker.executor, worker_name="driver-2")
    result = await perform_batch(resumed, await claim_driver(core, "driver-2"))
    assert result.status == SUCCESS and "2 job(s) run, 2 done before" in result.stdout
    answer = await batches.results(core, ready, INSTANCE, submitted.async_id)
    responses = [item["response"] for item in answer["results"]]
    # No job ran twice: a second device.create would answer 24205 (exists already), a
    # second script run would fail on its O_EXCL marker and be a second trace.
    assert [responses[i]["name"] for i in (0, 1, 3)] == ["first", "second", "fourth"]
    assert responses[2]["status"] == "success" and responses[2]["runId"] == jobs[2].run_id
    assert responses[2]["result"]["stdout"] == "marked slow"
    traces = await scripts_traces(core, ready, script.number)
    assert traces == 1
    assert [path.name for path in marks.iterdir()] == ["slow"]


async def scripts_traces(core: Core, key: ApiKey, number: int) -> int:
    page = await runs.list_traces(core, key, INSTANCE, number, after=None, limit=100,
                                  descending=False)
    return len(page.items)


async def test_a_driver_that_lost_its_lease_stops_without_answering(
    core: Core, ready: ApiKey, worker: Worker
) -> None:
    worker.lanes[1].slots = 0
    submitted = await submit(core, ready, [device_job("only")])
    task = await claim_driver(core, "old-driver")
    await core.database.write(queue.release, owner="old-driver", now=utcnow())
    context = WorkerContext(core=core, executor=worker.executor, worker_name="old-driver")
    result = await perform_batch(context, task)
    assert result.status == SUCCESS and "0 job(s) run" in result.stdout
    assert await jobs_done(core, submitted) == 0
    # The job's change went with its unrecorded answer: the next driver will make it.
    from runplane.core import inventory
    from runplane.errors import NotFound

    instance = await instances.find(core, INSTANCE)
    with pytest.raises(NotFound):
        await inventory.get_device(core, instance, "only")


async def test_services_and_runs_through_a_batch(core: Core, ready: ApiKey, worker: Worker
                                                 ) -> None:
    snippet = "results['success'] = True\nresults['result'] = device['name'] + '!'"
    submitted = await submit(core, ready, [
        device_job("svc-r1"),
        {"namespace": "service", "action": "create",
         "params": {"name": "greet", "type": "python_snippet_service", "source_code": snippet,
                    "devices": ["svc-r1"]}},
        {"namespace": "service", "action": "run", "params": {"name": "greet"}},
        {"namespace": "script", "action": "create",
         "params": {"label": "s", "runtime_name": "python3", "source": "print(6 * 7)"}},
        {"namespace": "script", "action": "run", "params": {"id": 1}},
        {"namespace": "service", "action": "list", "params": {"perPage": 10}},
    ])
    answer = await wait_finished(core, ready, submitted.async_id, timeout=90)
    created, service, ran, _, script_run, listed = (r["response"] for r in answer["results"])
    assert created["name"] == "svc-r1" and service["name"] == "greet"
    assert ran["success"] is True and ran["summary"]["success"] == ["svc-r1"], ran
    assert ran["devices"]["svc-r1"]["result"] == "svc-r1!"
    assert script_run["status"] == "success" and script_run["result"]["stdout"] == "42"
    assert [item["name"] for item in listed["results"]] == ["greet"]

    followed = await submit(core, ready, [
        {"namespace": "run", "action": "get", "params": {"runtime": ran["runtime"]}},
        {"namespace": "run", "action": "result", "params": {"runtime": ran["runtime"]}},
        {"namespace": "run", "action": "result", "params": {"id": script_run["runId"]}},
        {"namespace": "run", "action": "stop", "params": {"id": script_run["runId"]}},
        {"namespace": "run", "action": "get", "params": {"id": 999_999}},
        {"namespace": "service", "action": "delete", "params": {"name": "greet"}},
        {"namespace": "service", "action": "get", "params": {"name": "greet"}},
    ])
    answer = await wait_finished(core, ready, followed.async_id)
    got, service_result, script_result, stopped, missing, deleted, gone = (
        r["response"] for r in answer["results"])
    assert got["kind"] == "service" and got["status"] == SUCCESS and got["success"] is True
    assert service_result["status"] == "Completed"
    assert service_result["result"]["summary"]["success"] == ["svc-r1"]
    assert script_result == {"status": "Completed",
                             "result": {"stdout": "42", "stderr": ""}}
    assert stopped["stopped"] is False and "already ended" in stopped["message"]
    assert missing["specificCode"] == 24204
    assert deleted == {"deleted": True, "name": "greet"}
    assert gone["specificCode"] == 24204


async def test_a_batch_whose_driver_keeps_dying_ends_with_its_jobs_answered(
    core: Core, ready: ApiKey
) -> None:
    """A driver that never comes back (its lease expired on every attempt) must not leave
    the batch running for ever: each job without an answer gets the reason, the batch ends,
    and its callback is queued, in the transaction that fails the driver."""
    from runplane.api.batch_door.envelope import JOB_DRIVER_LOST
    from runplane.core.reaping import reap

    submitted = await submit(core, ready, [device_job("a"), device_job("b")])
    # The first job was answered before the driver was lost.
    jobs = await core.database.read(batch_store.jobs_of, submitted.batch_id)
    await core.database.write(batch_store.record_job, batch_id=submitted.batch_id,
                              job_id=jobs[0].id, response={"name": "a"}, now=utcnow())
    await core.database.write(single_attempt, submitted.run_id)
    now = utcnow()
    [task] = await core.database.write(
        claims.claim, owner="dead-driver", limit=1, now=now, lease_until=now,
        kinds=("batch",),
    )
    assert task.run_id == submitted.run_id
    _, finished = await reap(core)
    assert [run.run_id for run in finished] == [submitted.run_id]
    assert await batches.progress(core, ready, INSTANCE, submitted.async_id) == 100
    answer = await batches.results(core, ready, INSTANCE, submitted.async_id)
    first, second = (item["response"] for item in answer["results"])
    assert first == {"name": "a"}  # kept
    assert second["specificCode"] == JOB_DRIVER_LOST and "stopped responding" in second[
        "message"]
    entries = await outbox_of(core, submitted.batch_id)
    assert len(entries) == 1 and entries[0].body == answer
    # Reaping again changes nothing (the batch has ended once).
    assert (await reap(core))[1] == []


def single_attempt(conn: Any, run_id: int) -> None:
    """Give the run's tasks a single attempt (a driver's default is many)."""
    from runplane.store.tables import tasks

    conn.execute(tasks.update().where(tasks.c.run_id == run_id).values(max_attempts=1))


async def test_a_service_run_and_its_job_are_recorded_together(
    core: Core, ready: ApiKey, worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run a service.run job starts is linked to the job in the transaction that makes
    it: if the link cannot be written, no run is made either (so a driver resumed after a
    crash between the two can never start a second one)."""
    from runplane.core import inventory, services
    from runplane.core.instances import find as find_instance
    from runplane.store.tables import runs as runs_table

    instance = await find_instance(core, INSTANCE)
    await inventory.save_devices(core, instance, [{"name": "r1"}])
    await services.save(core, instance, {"name": "svc", "type": "python_snippet_service",
                                         "source_code": "results['success'] = True"})

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the link could not be written")

    monkeypatch.setattr(batch_store, "link_job_run", broken)
    submitted = await submit(core, ready, [{"namespace": "service", "action": "run",
                                            "params": {"name": "svc", "devices": ["r1"]}}])
    answer = await wait_finished(core, ready, submitted.async_id)
    assert answer["results"][0]["response"]["specificCode"] == 24200  # internal error
    service_runs_made = await core.database.read(lambda conn: conn.execute(
        runs_table.select().where(runs_table.c.kind == "service")).all())
    assert service_runs_made == []
