"""The batch door over HTTP against a real server: iVvy's actions, answers, error codes and
auth, and the signed callback of a finished batch arriving at a real receiver."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.support.batch_door import (
    BATCH,
    FAST_CALLBACKS,
    call,
    device_job,
    error_of,
    progress,
    run_batch,
    wait_results,
)
from tests.support.polling import wait_until
from tests.support.receiver import Receiver
from tests.support.script_door import create_instance, create_script
from tests.support.server import ServerProcess, runplane_cli

SEED_JOBS = [
    {"namespace": "event", "action": "inviteContacts",
     "params": {"event": 1, "contacts": [1, 2, 3]}},
    {"namespace": "event", "action": "inviteContacts",
     "params": {"event": 2, "contacts": [1, 2, 4]}},
]


@pytest.fixture(scope="module")
def batch_server(module_database_url: str, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[ServerProcess]:
    process = ServerProcess(module_database_url, tmp_path_factory.mktemp("batch"),
                            env=FAST_CALLBACKS).start()
    yield process
    process.stop()


@pytest.fixture
def client(batch_server: ServerProcess) -> Iterator[httpx.Client]:
    with batch_server.client() as http:
        yield http


@pytest.fixture
def instance(client: httpx.Client) -> str:
    return create_instance(client)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def test_run_answers_at_once_and_the_signed_callback_carries_every_result_in_order(
    client: httpx.Client, instance: str, receiver: Receiver
) -> None:
    script = create_script(client, instance, "print('sum', ARGS['a'] + ARGS['b'])")
    jobs = [
        device_job("edge-1", vendor="Cisco", ip_address="10.0.0.1"),
        {"namespace": "device", "action": "get", "params": {"name": "edge-1"}},
        {"namespace": "script", "action": "run",
         "params": {"id": script, "payload": {"a": 2, "b": 3}}},
        {"namespace": "device", "action": "list", "params": {"filters": {"vendor": "Cisco"}}},
    ]
    async_id = run_batch(client, jobs, receiver.url, instance=instance)
    results = wait_results(client, async_id, instance=instance)
    [request] = receiver.wait_for(1)
    assert request.json() == results
    assert results["asyncId"] == async_id
    assert [(r["namespace"], r["action"]) for r in results["results"]] == [
        (job["namespace"], job["action"]) for job in jobs
    ]
    assert [r["request"] for r in results["results"]] == [job["params"] for job in jobs]
    created, got, ran, listed = (r["response"] for r in results["results"])
    assert created["name"] == got["name"] == "edge-1" and got["vendor"] == "Cisco"
    assert ran["status"] == "success" and ran["result"]["stdout"] == "sum 5"
    assert listed["meta"]["totalResults"] == 1 and listed["results"][0]["name"] == "edge-1"
    assert progress(client, async_id, instance=instance) == 100
    secret = call(client, "secret", instance=instance)
    assert secret.status_code == 200, secret.text
    verified = Webhook(secret.json()["secret"]).verify(request.body, request.headers)
    assert verified == results
    assert request.headers["content-type"] == "application/json"


def test_the_cli_prints_the_secret_the_callbacks_are_signed_with(
    client: httpx.Client, instance: str, batch_server: ServerProcess
) -> None:
    printed = runplane_cli("webhook-secret", "--instance", instance,
                           "--database", batch_server.database_url)
    assert printed.returncode == 0, printed.stderr
    secret = printed.stdout.strip()
    assert secret.startswith("whsec_") and "\n" not in secret
    shown = call(client, "secret", instance=instance)
    assert shown.status_code == 200 and shown.json()["secret"] == secret
    missing = runplane_cli("webhook-secret", "--instance", "no-such-instance",
                           "--database", batch_server.database_url)
    assert missing.returncode == 1 and "no instance named" in missing.stderr


def test_the_seeds_example_gives_two_error_answers_and_a_callback(
    client: httpx.Client, instance: str, receiver: Receiver
) -> None:
    async_id = run_batch(client, SEED_JOBS, receiver.url, instance=instance)
    results = wait_results(client, async_id, instance=instance)
    assert len(results["results"]) == 2
    for job, result in zip(SEED_JOBS, results["results"], strict=True):
        assert result["request"] == job["params"]
        assert result["response"]["specificCode"] == 24201
        assert result["response"]["errorCode"] == 404
    assert receiver.wait_for(1)[0].json() == results


def test_a_batch_of_a_thousand_jobs(client: httpx.Client, instance: str,
                                    receiver: Receiver) -> None:
    jobs = [device_job(f"node-{index:04d}") for index in range(1000)]
    async_id = run_batch(client, jobs, receiver.url, instance=instance)
    results = wait_results(client, async_id, timeout=180, instance=instance)
    names = [result["response"]["name"] for result in results["results"]]
    assert names == [f"node-{index:04d}" for index in range(1000)]
    [request] = receiver.wait_for(1, timeout=30)
    assert len(request.json()["results"]) == 1000


def test_restart_runs_the_batch_again_and_repost_sends_the_callback_again(
    client: httpx.Client, instance: str, receiver: Receiver
) -> None:
    async_id = run_batch(client, [device_job("twice")], receiver.url, instance=instance)
    first = wait_results(client, async_id, instance=instance)
    receiver.wait_for(1)
    restarted = call(client, "restart", {"async": async_id}, instance=instance)
    assert restarted.status_code == 200 and restarted.json() == {"restarted": True}
    second = wait_results(client, async_id, instance=instance)
    assert first["results"][0]["response"]["name"] == "twice"
    assert second["results"][0]["response"]["specificCode"] == 24205  # it exists now
    reposted = call(client, "repost", {"async": async_id}, instance=instance)
    assert reposted.status_code == 200 and reposted.json() == {"reposted": True}
    bodies = [request.json() for request in receiver.wait_for(3)]
    assert bodies == [first, second, second]
    ids = [request.headers["webhook-id"] for request in receiver.requests]
    assert len(set(ids)) == 3  # three messages, each its own webhook-id
    shown = wait_until(
        lambda: call(client, "callbacks", {"async": async_id}, instance=instance).json(),
        lambda shown: [item["status"] for item in shown["callbacks"]] == ["delivered"] * 3,
        what="three delivered callbacks",
    )
    assert all(item["attempts"][0]["statusCode"] == 200 for item in shown["callbacks"])


def test_results_restart_and_repost_of_an_unfinished_batch(
    client: httpx.Client, instance: str, receiver: Receiver
) -> None:
    slow = create_script(client, instance, "import time\ntime.sleep(3)")
    async_id = run_batch(client, [
        {"namespace": "script", "action": "run", "params": {"id": slow}},
        device_job("later"),
    ], receiver.url, instance=instance)
    assert progress(client, async_id, instance=instance) < 100
    error_of(call(client, "results", {"async": async_id}, instance=instance), 400, 24114)
    error_of(call(client, "restart", {"async": async_id}, instance=instance), 409, 24122)
    error_of(call(client, "repost", {"async": async_id}, instance=instance), 409, 24132)
    assert wait_results(client, async_id, instance=instance)["results"][1]["response"]


GOOD_JOB = device_job("r1")


@pytest.mark.parametrize(("action", "body", "status", "code"), [
    ("run", {"callbackUrl": "http://127.0.0.1:9/x"}, 400, 24092),
    ("run", {"jobs": "nope", "callbackUrl": "http://127.0.0.1:9/x"}, 400, 24092),
    ("run", {"jobs": [GOOD_JOB, 7], "callbackUrl": "http://127.0.0.1:9/x"}, 400, 24092),
    ("run", {"jobs": [{"namespace": "device", "action": "create"}],
             "callbackUrl": "http://127.0.0.1:9/x"}, 400, 24092),
    ("run", {"jobs": [{"namespace": "device", "action": 3, "params": {"a": 1}}],
             "callbackUrl": "http://127.0.0.1:9/x"}, 400, 24092),
    ("run", [GOOD_JOB], 400, 24092),
    ("run", {"jobs": [{**GOOD_JOB, "params": {}}], "callbackUrl": "http://127.0.0.1:9/x"},
     400, 24093),
    ("run", {"jobs": [{**GOOD_JOB, "params": {"name": ""}}],
             "callbackUrl": "http://127.0.0.1:9/x"}, 400, 24093),
    ("run", {"jobs": [{**GOOD_JOB, "params": {"name": "x", "contacts": []}}],
             "callbackUrl": "http://127.0.0.1:9/x"}, 400, 24093),
    ("run", {"jobs": [GOOD_JOB] * 1001, "callbackUrl": "http://127.0.0.1:9/x"}, 400, 24094),
    ("run", {"jobs": [GOOD_JOB]}, 400, 24096),
    ("run", {"jobs": [GOOD_JOB], "callbackUrl": "http://169.254.169.254/latest/meta-data/"},
     400, 24096),
    ("run", {"jobs": [GOOD_JOB], "callbackUrl": "gopher://127.0.0.1/x"}, 400, 24096),
    ("progress", {"async": "0" * 32}, 404, 24105),
    ("progress", {}, 404, 24105),
    ("results", {"async": "f" * 32}, 404, 24115),
    ("restart", {"async": "f" * 32}, 404, 24121),
    ("repost", {"async": "f" * 32}, 404, 24131),
    ("callbacks", {"async": "f" * 32}, 404, 24141),
    ("explode", {}, 400, 24000),
    ("", {}, 400, 24000),
])
def test_error_codes(client: httpx.Client, instance: str, action: str, body: Any,
                     status: int, code: int) -> None:
    error_of(call(client, action, body, instance=instance), status, code)


def test_a_refused_callback_url_says_why(client: httpx.Client, instance: str) -> None:
    answer = call(client, "run", {"jobs": [GOOD_JOB],
                                  "callbackUrl": "http://169.254.169.254/latest/meta-data/"},
                  instance=instance)
    body = error_of(answer, 400, 24096)
    assert "169.254.169.254" in body["message"] and "denied network" in body["message"]


def test_bodies_that_are_not_json_or_too_large(client: httpx.Client, instance: str) -> None:
    not_json = client.post(BATCH, params={"action": "run", "instance": instance},
                           content=b"{nope", headers={"content-type": "application/json"})
    error_of(not_json, 400, 24001)
    huge = {"jobs": [device_job("x", description="d" * 4000)] * 1100,
            "callbackUrl": "http://127.0.0.1:9/x"}
    error_of(call(client, "run", huge, instance=instance), 413, 24095)


# Auth and the instance rule ---------------------------------------------------------------


def make_key(server: ServerProcess, *args: str) -> str:
    made = runplane_cli("key", "create", "--database", server.database_url, *args)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def test_keys_are_taken_as_the_other_doors_take_them(
    batch_server: ServerProcess, instance: str
) -> None:
    key = batch_server.admin_key or ""
    url = batch_server.base_url + BATCH
    body = {"async": "0" * 32}
    basic = base64.b64encode(f"anyone:{key}".encode()).decode()
    for headers in ({"X-API-KEY": key}, {"Authorization": f"Basic {basic}"},
                    {"Authorization": f"Token {key}"}, {"Authorization": f"Bearer {key}"}):
        answer = httpx.post(url, params={"action": "progress", "instance": instance},
                            json=body, headers=headers)
        error_of(answer, 404, 24105)  # authenticated: the batch is simply unknown
    error_of(httpx.post(url, params={"action": "progress"}, json=body), 401, 24401)
    error_of(httpx.post(url, params={"action": "progress"}, json=body,
                        headers={"X-API-KEY": "0" * 40}), 401, 24401)


def test_roles_and_instances(batch_server: ServerProcess, client: httpx.Client,
                             instance: str, receiver: Receiver) -> None:
    reader = make_key(batch_server, "--instance", instance, "--role", "read")
    other = create_instance(client)
    runner_elsewhere = make_key(batch_server, "--instance", other, "--role", "run")
    url = batch_server.base_url + BATCH
    job = {"jobs": [GOOD_JOB], "callbackUrl": receiver.url}
    error_of(httpx.post(url, params={"action": "run"}, json=job,
                        headers={"X-API-KEY": reader}), 403, 24403)
    error_of(httpx.post(url, params={"action": "secret"}, headers={"X-API-KEY": reader}),
             403, 24403)
    # Another tenant's instance is answered as an unknown one (no existence oracle).
    error_of(httpx.post(url, params={"action": "run", "instance": instance}, json=job,
                        headers={"X-API-KEY": runner_elsewhere}), 404, 24404)
    error_of(call(client, "progress", {"async": "0" * 32}, instance="no-such-instance"),
             404, 24404)
    # An instance key acts on its own instance without naming it.
    answer = httpx.post(url, params={"action": "run"}, json=job,
                        headers={"X-API-KEY": runner_elsewhere})
    assert answer.status_code == 200, answer.text
    async_id = answer.json()["asyncId"]
    with httpx.Client(base_url=batch_server.base_url,
                      headers={"X-API-KEY": runner_elsewhere}) as as_runner:
        results = wait_results(as_runner, async_id)
    # The jobs ran as that key: a run-only key may not create devices.
    assert results["results"][0]["response"]["specificCode"] == 24403
    # The header names the instance too; an account key without one acts on "default".
    by_header = httpx.post(url, params={"action": "progress"}, json={"async": async_id},
                           headers={"X-API-KEY": batch_server.admin_key or "",
                                    "X-RUNPLANE-INSTANCE": other})
    assert by_header.json() == {"progress": 100}
    error_of(call(client, "progress", {"async": async_id}), 404, 24105)
    default_id = run_batch(client, [device_job("in-default")], receiver.url)
    assert wait_results(client, default_id, instance="default")["asyncId"] == default_id


def test_the_openapi_document_lists_the_door(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    assert BATCH in document["paths"]
    assert json.dumps(document["paths"][BATCH]).count("callbackUrl") >= 1
