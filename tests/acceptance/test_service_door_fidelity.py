"""What an eNMS 4.7 client reads at the service door, as the real eNMS answered it side by side
(../shared/reference/enms-side-by-side.md, issue 21): services created at their type's path
with `scoped_name`, per-device results in eNMS's shape, pools listing their devices,
`/rest/update_all_pools`, case-insensitive search, eNMS's 403 for unknown objects, its
`failure` lists, and a device's pools and default port.
One server per module and database; each test works in an instance of its own."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.server import ServerProcess

NOT_AUTHORIZED = {"alert": "Error 403 - Not Authorized."}
NO_SUCH_RUN = {"error": "There are no results or on-going services for the requested service "
                        "and runtime."}
RUNTIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")
DURATION = re.compile(r"^\d+:\d\d:\d\d$")
DEVICES = [
    {"name": "Washington", "ip_address": "127.0.0.1", "vendor": "Cisco"},
    {"name": "Boston", "ip_address": "10.0.0.2", "vendor": "Juniper", "port": 830},
    {"name": "Austin", "ip_address": "10.0.0.3", "vendor": "Cisco"},
]


@pytest.fixture
def client(shared_server: ServerProcess, instance: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared_server.base_url,
                      auth=("admin", shared_server.admin_key or ""),
                      headers={"X-RUNPLANE-INSTANCE": instance}, timeout=120) as http:
        yield http


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def test_every_service_type_is_created_at_its_path_with_scoped_name(
    client: httpx.Client,
) -> None:
    snippet = {"scoped_name": "snip", "source_code": "results['success'] = True"}
    assert ok(client.post("/rest/instance/python_snippet_service", json=snippet)) == {
        "success": ["snip"]}
    shown = ok(client.get("/rest/instance/python_snippet_service/snip"))
    assert (shown["name"], shown["scoped_name"], shown["type"]) == (
        "snip", "snip", "python_snippet_service")
    assert ok(client.get("/rest/instance/service/snip"))["type"] == "python_snippet_service"
    command = {"scoped_name": "cmd", "command": "echo hi"}
    assert ok(client.post("/rest/instance/shell_command_service", json=[command])) == {
        "success": ["cmd"]}
    assert ok(client.get("/rest/instance/shell_command_service/cmd"))["command"] == "echo hi"
    # Another type's service is unknown at a type's path.
    wrong = client.get("/rest/instance/shell_command_service/snip")
    assert (wrong.status_code, wrong.json()) == (403, NOT_AUTHORIZED)
    # The generic path and `type` still work.
    assert ok(client.post("/rest/instance/service", json={
        "name": "generic", "type": "shell_command_service", "command": "true"})) == {
        "success": ["generic"]}
    found = ok(client.get("/rest/query/python_snippet_service"))
    assert [service["name"] for service in found] == ["snip"]


def test_per_device_results_have_enms_keys_and_an_exception_its_step_and_error(
    client: httpx.Client,
) -> None:
    ok(client.post("/rest/instance/device", json=DEVICES))
    code = (
        "results['result'] = 'partial'\n"
        "if device.name == 'Boston':\n"
        "    raise ValueError('boom')\n"
        "results['success'] = True\n"
        "results['result'] = 'ok'\n"
    )
    ok(client.post("/rest/instance/python_snippet_service",
                   json={"scoped_name": "raiser", "source_code": code}))
    answer = ok(client.post("/rest/run_service", json={
        "name": "raiser", "devices": ["Washington", "Boston"]}))
    assert answer["summary"] == {"success": ["Washington"], "failure": ["Boston"],
                                 "discard": []}
    good, bad = answer["devices"]["Washington"], answer["devices"]["Boston"]
    assert good["device_target"] == "Washington" and bad["device_target"] == "Boston"
    assert (good["success"], good["result"]) == (True, "ok")
    for device in (good, bad):
        assert DURATION.match(device["duration"]) and RUNTIME.match(device["runtime"])
        assert isinstance(device["duration_ms"], int)  # runplane's own keys stay
    assert bad["success"] is False
    assert set(bad["result"]) == {"step", "error", "result", "traceback"}
    assert (bad["result"]["step"], bad["result"]["error"]) == ("execute", "boom")
    assert bad["result"]["result"] == {"result": "partial"}
    assert "ValueError: boom" in bad["result"]["traceback"]
    assert bad["exit_code"] == 1
    result = ok(client.get(f"/rest/result/raiser/{answer['runtime']}"))["result"]
    assert result["devices"]["Boston"]["result"]["error"] == "boom"
    assert result["summary"]["discard"] == []


def test_pools_list_their_devices_and_update_all_pools_is_accepted(
    client: httpx.Client,
) -> None:
    ok(client.post("/rest/instance/device", json=DEVICES))
    ok(client.post("/rest/instance/pool", json={
        "name": "cisco", "device_vendor": "Cisco", "device_vendor_match": "equality"}))
    ok(client.post("/rest/instance/pool", json={
        "name": "hand", "devices": ["Boston"], "manually_defined": True}))
    assert ok(client.post("/rest/update_all_pools")) is None
    pool = ok(client.get("/rest/instance/pool/cisco"))
    assert (pool["devices"], pool["device_number"], pool["device_count"]) == (
        ["Austin", "Washington"], 2, 2)
    # A filter pool's devices are resolved live: a new match is in it at once.
    ok(client.post("/rest/instance/device", json={"name": "Denver", "vendor": "Cisco"}))
    assert ok(client.get("/rest/instance/pool/cisco"))["devices"] == [
        "Austin", "Denver", "Washington"]
    manual = ok(client.get("/rest/instance/pool/hand"))
    assert (manual["devices"], manual["device_number"]) == (["Boston"], 1)


def test_search_inclusion_ignores_case_and_device_rows_hold_only_the_columns(
    client: httpx.Client,
) -> None:
    ok(client.post("/rest/instance/device", json=DEVICES))
    rows = ok(client.post("/rest/search", json={
        "type": "device", "columns": ["name", "vendor"],
        "search_criteria": {"vendor": "cISCo"}}))
    assert rows == [{"name": "Austin", "vendor": "Cisco"},
                    {"name": "Washington", "vendor": "Cisco"}]
    exact = ok(client.post("/rest/search", json={
        "type": "device", "columns": ["name"],
        "search_criteria": {"vendor": "cisco", "vendor_filter": "equality"}}))
    assert exact == []
    ok(client.post("/rest/instance/pool", json={
        "name": "Cisco pool", "device_vendor": "Cisco", "device_vendor_match": "equality"}))
    pools = ok(client.post("/rest/search", json={
        "type": "pool", "columns": ["name"], "search_criteria": {"name": "cisco"}}))
    assert pools == [{"name": "Cisco pool", "type": "pool", "device_number": 2}]


def test_unknown_objects_are_403_not_authorized_and_unknown_runs_an_error(
    client: httpx.Client,
) -> None:
    for kind in ("device", "service", "pool", "python_snippet_service"):
        for method in ("GET", "DELETE"):
            response = client.request(method, f"/rest/instance/{kind}/nothing")
            assert (response.status_code, response.json()) == (403, NOT_AUTHORIZED)
    ok(client.post("/rest/instance/device", json={"name": "once"}))
    assert ok(client.delete("/rest/instance/device/once"))["name"] == "once"
    again = client.delete("/rest/instance/device/once")
    assert (again.status_code, again.json()) == (403, NOT_AUTHORIZED)
    run = client.post("/rest/run_service", json={"name": "nothing"})
    assert (run.status_code, run.json()) == (403, NOT_AUTHORIZED)
    assert ok(client.get("/rest/result/nothing/2020-04-28 12:21:11.404910")) == NO_SUCH_RUN
    unknown = client.get("/rest/no_such_endpoint")
    assert (unknown.status_code, unknown.json()) == (404, {"alert": "Error 404 - Not Found."})


def test_saves_answer_enms_lists_and_a_device_shows_its_pools_and_port(
    client: httpx.Client,
) -> None:
    assert ok(client.post("/rest/instance/device", json={"name": "solo"})) == {
        "success": ["solo"]}
    nameless = {"vendor": "Cisco"}
    answer = ok(client.post("/rest/instance/device", json=[*DEVICES, nameless]))
    assert answer["success"] == ["Washington", "Boston", "Austin"]
    assert len(answer["failure"]) == 1
    sent, reason = answer["failure"][0]
    assert sent == nameless and isinstance(reason, str) and "name" in reason.lower()
    assert ok(client.post("/rest/instance/device", json=[nameless])) == {
        "failure": [[nameless, reason]]}
    ok(client.post("/rest/instance/pool", json={
        "name": "cisco", "device_vendor": "Cisco", "device_vendor_match": "equality"}))
    ok(client.post("/rest/instance/pool", json={
        "name": "hand", "devices": ["Washington"], "manually_defined": True}))
    washington = ok(client.get("/rest/instance/device/Washington"))
    assert (washington["pools"], washington["port"]) == (["cisco", "hand"], 22)
    boston = ok(client.get("/rest/instance/device/Boston"))
    assert (boston["pools"], boston["port"]) == ([], 830)
