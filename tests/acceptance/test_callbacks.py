"""Callbacks that are never lost, against real servers and a real receiver: retries to a
receiver that is down and failing, a server killed with SIGKILL before its callback went out
or in the middle of a batch, and the script door's optional callback URL."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.batch_door import FAST_CALLBACKS, call, device_job, run_batch, wait_results
from tests.support.polling import wait_until
from tests.support.receiver import DROP, Receiver
from tests.support.scratch import scratch_dir
from tests.support.script_door import create_instance, create_script, script_path
from tests.support.server import ServerProcess


def callbacks(client: httpx.Client, async_id: str, instance: str) -> list[dict[str, Any]]:
    answer = call(client, "callbacks", {"async": async_id}, instance=instance)
    assert answer.status_code == 200, answer.text
    return answer.json()["callbacks"]  # type: ignore[no-any-return]


def test_down_then_500_three_times_then_200_is_delivered_once_with_every_attempt_kept(
    database_url: str, tmp_path: Path
) -> None:
    env = {**FAST_CALLBACKS, "RUNPLANE_CALLBACK_FIRST_DELAY": "0.3",
           "RUNPLANE_CALLBACK_MAX_DELAY": "0.6"}
    server = ServerProcess(database_url, tmp_path, env=env).start()
    # Down: the first connection is dropped unanswered (a refused port is the SIGKILL test's).
    receiver = Receiver([DROP, 500, 500, 500, 200], default=200)
    try:
        client = server.client()
        instance = create_instance(client)
        with receiver:
            async_id = run_batch(client, [device_job("cb")], receiver.url, instance=instance)
            wait_until(lambda: callbacks(client, async_id, instance),
                       lambda shown: bool(shown) and shown[0]["status"] != "pending", timeout=60,
                       what="delivery")
            time.sleep(1.0)  # time enough for a wrongful resend
            received = receiver.requests
        [entry] = callbacks(client, async_id, instance)
        results = wait_results(client, async_id, instance=instance)
    finally:
        server.stop()
    assert entry["status"] == "delivered" and entry["deliveredAt"]
    assert [attempt["statusCode"] for attempt in entry["attempts"]] == [None, 500, 500, 500, 200]
    assert "connection error" in entry["attempts"][0]["error"]
    assert [request.answered for request in received] == [DROP, 500, 500, 500, 200]
    assert len({request.headers["webhook-id"] for request in received}) == 1
    assert received[-1].json() == results


def test_a_callback_pending_when_the_server_is_killed_is_delivered_after_restart(
    database_url: str, tmp_path: Path
) -> None:
    env = {**FAST_CALLBACKS, "RUNPLANE_CALLBACK_ATTEMPTS": "100",
           "RUNPLANE_CALLBACK_FIRST_DELAY": "0.2", "RUNPLANE_CALLBACK_MAX_DELAY": "0.5",
           "RUNPLANE_CALLBACK_TIMEOUT": "1"}
    server = ServerProcess(database_url, tmp_path, env=env).start()
    receiver = Receiver()  # down until after the crash
    try:
        client = server.client()
        instance = create_instance(client)
        async_id = run_batch(client, [device_job("survivor")], receiver.url, instance=instance)
        results = wait_results(client, async_id, instance=instance)
        wait_until(lambda: callbacks(client, async_id, instance),
                   lambda shown: len(shown[0]["attempts"]) >= 2, what="failed attempts")
    finally:
        server.kill()
    with receiver:
        restarted = ServerProcess(database_url, tmp_path, env=env, port=server.port).start()
        try:
            [request] = receiver.wait_for(1, timeout=60)
            assert request.json() == results
            client = restarted.client(server.admin_key)
            shown = wait_until(lambda: callbacks(client, async_id, instance),
                               lambda shown: shown[0]["status"] == "delivered",
                               what="delivered")
            time.sleep(0.5)
            assert len(receiver.requests) == 1
        finally:
            restarted.stop()
    assert shown[0]["attempts"][-1]["statusCode"] == 200
    assert all(attempt["statusCode"] is None for attempt in shown[0]["attempts"][:-1])


MARKING_SCRIPT = (
    "import os, time\n"
    "pids = os.path.join(ARGS['dir'], 'pids')\n"
    "os.makedirs(pids, exist_ok=True)\n"
    "open(os.path.join(pids, str(os.getpid())), 'w').close()\n"
    "time.sleep(ARGS['sleep'])\n"
    # O_EXCL: a job whose script ran twice fails here the second time.
    "os.close(os.open(os.path.join(ARGS['dir'], 'marks', ARGS['name']),"
    " os.O_CREAT | os.O_EXCL | os.O_WRONLY))\n"
    "print('marked', ARGS['name'])\n"
)


def kill_left_over_scripts(work: Path) -> None:
    """A crash takes the machine's processes with it: kill the scripts the server started."""
    for pid_file in (work / "pids").iterdir():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.name), signal.SIGKILL)


def test_a_server_killed_mid_batch_resumes_it_without_running_finished_jobs_again(
    database_url: str, tmp_path: Path
) -> None:
    work = scratch_dir("work-")
    (work / "marks").mkdir()
    env = {**FAST_CALLBACKS, "RUNPLANE_LEASE_SECONDS": "2"}
    server = ServerProcess(database_url, tmp_path, env=env).start()
    receiver = Receiver().start()
    names = [f"job{index}" for index in range(6)]
    try:
        client = server.client()
        instance = create_instance(client)
        script = create_script(client, instance, MARKING_SCRIPT)
        jobs = [{"namespace": "script", "action": "run",
                 "params": {"id": script, "payload": {"dir": str(work), "name": name,
                                                       "sleep": 0.6}}}
                for name in names]
        async_id = run_batch(client, jobs, receiver.url, instance=instance)
        wait_until(lambda: call(client, "progress", {"async": async_id},
                                instance=instance).json()["progress"],
                   lambda done: done >= 33, timeout=30, interval=0.02, what="two jobs done")
    finally:
        server.kill()
    kill_left_over_scripts(work)
    done_before = sorted(path.name for path in (work / "marks").iterdir())
    assert 2 <= len(done_before) < len(names), done_before

    restarted = ServerProcess(database_url, tmp_path, env=env, port=server.port).start()
    try:
        client = restarted.client(server.admin_key)
        results = wait_results(client, async_id, timeout=90, instance=instance)
        [request] = receiver.wait_for(1, timeout=30)
        traces = client.get(f"{script_path(instance, script)}traces/",
                            params={"page_size": 100}).json()["objects"]
    finally:
        restarted.stop()
        receiver.stop()
    responses = [result["response"] for result in results["results"]]
    assert [response["status"] for response in responses] == ["success"] * len(names), responses
    assert [response["result"]["stdout"] for response in responses] == [
        f"marked {name}" for name in names
    ]
    # One trace per job: no job started a second run, and every marker was made once.
    assert len(traces) == len(names)
    assert sorted(path.name for path in (work / "marks").iterdir()) == names
    assert request.json() == results


def test_a_script_run_may_name_a_callback_url(shared_server: ServerProcess) -> None:
    with shared_server.client() as client, Receiver() as receiver:
        instance = create_instance(client)
        script = create_script(client, instance, "print('hi', ARGS['who'])")
        answer = client.post(f"{script_path(instance, script)}run/",
                             json={"payload": {"who": "there"}, "callback_url": receiver.url})
        assert answer.status_code == 200, answer.text
        [request] = receiver.wait_for(1)
        body = request.json()
        assert body["run"]["trace"] == answer.json()["id"] and body["run"]["status"] == "success"
        assert body["result"]["stdout"] == "hi there\n"
        assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= set(request.headers)
        # An unwrapped payload (no "payload" key) does not see callback_url in ARGS.
        unwrapped = client.post(f"{script_path(instance, script)}run/",
                                json={"who": "you", "callback_url": receiver.url})
        assert unwrapped.status_code == 200, unwrapped.text
        assert receiver.wait_for(2)[1].json()["result"]["stdout"] == "hi you\n"
        refused = client.post(f"{script_path(instance, script)}run/",
                              json={"payload": {}, "callback_url": "http://169.254.169.254/"})
    assert refused.status_code == 400
    assert "denied network" in refused.json()["callback_url"][0]


def test_a_service_run_may_name_a_callback_url(shared_server: ServerProcess) -> None:
    """run_service takes runplane's `callback_url` too: the ended run, with its summary, is
    POSTed there signed; a URL into a denied network is refused before anything runs."""
    with shared_server.client() as admin, Receiver() as receiver:
        instance = create_instance(admin)
        enms = httpx.Client(base_url=shared_server.base_url, timeout=60,
                            auth=("admin", shared_server.admin_key or ""),
                            headers={"X-RUNPLANE-INSTANCE": instance})
        with enms:
            made = enms.post("/rest/instance/device", json=[{"name": "r1"}, {"name": "r2"}])
            assert made.status_code == 200, made.text
            saved = enms.post("/rest/instance/service", json={
                "name": "check", "type": "python_snippet_service",
                "source_code": "results['success'] = device.name == 'r1'"})
            assert saved.status_code == 200, saved.text
            answer = enms.post("/rest/run_service", json={
                "name": "check", "devices": ["r1", "r2"], "async": True,
                "callback_url": receiver.url})
            assert answer.status_code == 200, answer.text
            [request] = receiver.wait_for(1)
            refused = enms.post("/rest/run_service", json={
                "name": "check", "devices": ["r1"], "callback_url": "http://169.254.169.254/"})
    body = request.json()
    assert body["run"]["runtime"] == answer.json()["runtime"]
    assert body["run"]["kind"] == "service" and body["run"]["status"] == "failure"
    assert body["summary"] == {"success": ["r1"], "failure": ["r2"]}
    assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= set(request.headers)
    assert refused.status_code == 400
    assert "denied network" in refused.json()["alert"]
