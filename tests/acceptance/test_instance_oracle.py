"""No existence oracle: a key of instance A is answered alike for another tenant's instance B
(which exists) and for an instance C that does not, through each door: the same status and
the same body, what an unknown instance answers (Syncano's 404 "Instance was not found.")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.support.batch_door import BATCH
from tests.support.script_door import INSTANCES, create_instance, create_script, unique_name
from tests.support.server import ServerProcess, runplane_cli

Request = Callable[[httpx.Client, str], httpx.Response]


def instance_key(server: ServerProcess, instance: str, role: str) -> str:
    made = runplane_cli("key", "create", "--instance", instance, "--role", role,
                        "--database", server.database_url)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def answer(response: httpx.Response) -> tuple[int, Any]:
    return response.status_code, response.json()


@pytest.fixture
def tenants(shared_server: ServerProcess, instance: str) -> tuple[str, str]:
    """(B, C): B another tenant's instance, with a script 1; C a name no instance has."""
    with shared_server.client() as admin:
        other = create_instance(admin)
        create_script(admin, other, "print(1)")
    return other, unique_name("none")


def script_door_requests() -> list[tuple[str, Request]]:
    def path(name: str, rest: str = "") -> str:
        return f"{INSTANCES}{name}/{rest}"

    return [
        ("get instance", lambda http, name: http.get(path(name))),
        ("list scripts", lambda http, name: http.get(path(name, "snippets/scripts/"))),
        ("get script", lambda http, name: http.get(path(name, "snippets/scripts/1/"))),
        ("run script", lambda http, name: http.post(path(name, "snippets/scripts/1/run/"),
                                                    json={"payload": {}})),
        ("create script", lambda http, name: http.post(
            path(name, "snippets/scripts/"),
            json={"label": "x", "runtime_name": "python3", "source": "print(1)"})),
        ("delete instance", lambda http, name: http.delete(path(name))),
        ("run endpoint", lambda http, name: http.post(
            path(name, "endpoints/scripts/hook/run/"), json={})),
    ]


@pytest.mark.parametrize("role", ["read", "admin"])
def test_the_script_door_answers_another_tenant_s_instance_as_an_unknown_one(
    shared_server: ServerProcess, instance: str, tenants: tuple[str, str], role: str
) -> None:
    existing, missing = tenants
    key = instance_key(shared_server, instance, role)
    with shared_server.client(key) as http:
        assert http.get(f"{INSTANCES}{instance}/").status_code == 200  # its own: seen
        for label, request in script_door_requests():
            foreign, unknown = answer(request(http, existing)), answer(request(http, missing))
            assert foreign == unknown == (404, {"detail": "Instance was not found."}), label


def test_the_service_door_answers_another_tenant_s_instance_as_an_unknown_one(
    shared_server: ServerProcess, instance: str, tenants: tuple[str, str]
) -> None:
    existing, missing = tenants
    key = instance_key(shared_server, instance, "admin")
    requests: list[tuple[str, Request]] = [
        ("query devices", lambda http, _: http.get("/rest/query/device")),
        ("save device", lambda http, _: http.post("/rest/instance/device",
                                                  json={"name": "d1"})),
        ("get pool", lambda http, _: http.get("/rest/instance/pool/p1")),
        ("search", lambda http, _: http.post("/rest/search", json={"type": "device"})),
        ("run service", lambda http, _: http.post("/rest/run_service",
                                                  json={"name": "s1"})),
    ]
    for label, request in requests:
        seen = []
        for name in (existing, missing):
            # By header, and by the query parameter the door also reads.
            with httpx.Client(base_url=shared_server.base_url, auth=("admin", key),
                              headers={"X-RUNPLANE-INSTANCE": name}, timeout=60) as http:
                seen.append(answer(request(http, name)))
            with httpx.Client(base_url=shared_server.base_url, auth=("admin", key),
                              params={"instance": name}, timeout=60) as http:
                seen.append(answer(request(http, name)))
        expected = (404, {"alert": "Error 404 - Instance was not found."})
        assert seen == [expected] * 4, label


def test_the_batch_door_answers_another_tenant_s_instance_as_an_unknown_one(
    shared_server: ServerProcess, instance: str, tenants: tuple[str, str]
) -> None:
    existing, missing = tenants
    key = instance_key(shared_server, instance, "admin")
    bodies = {
        "run": {"jobs": [{"namespace": "device", "action": "create",
                          "params": {"name": "d1"}}], "callbackUrl": "http://127.0.0.1:9/"},
        "progress": {"async": "0" * 32},
        "results": {"async": "0" * 32},
        "secret": {},
    }
    with httpx.Client(base_url=shared_server.base_url, headers={"X-API-KEY": key},
                      timeout=60) as http:
        for action, body in bodies.items():
            foreign, unknown = (
                answer(http.post(BATCH, params={"action": action}, json=body,
                                 headers={"X-RUNPLANE-INSTANCE": name}))
                for name in (existing, missing)
            )
            assert foreign == unknown, action
            status, envelope = foreign
            assert (status, envelope["specificCode"]) == (404, 24404), action
