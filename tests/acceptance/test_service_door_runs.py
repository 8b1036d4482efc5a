"""The service door's run path over HTTP, as eNMS clients use it: /rest/run_service with the
seed's request (async and sync), /rest/result, /rest/stop, /rest/logs, faults of snippets,
commands and scripts, the sync wait limit, a crash mid-run, and 10,000 devices.

Most tests share one server per module and database, each in an instance of its own; those
that need other settings (or kill the server) start their own. Snippets leave marker files
in a scratch folder (tests/support/scratch.py: confined runs may write there), passed through
the payload, so a test can count executions.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy

from tests.support.polling import wait_until
from tests.support.scratch import scratch_dir
from tests.support.script_door import create_instance, create_script
from tests.support.server import ServerProcess

SEED_REQUEST: dict[str, Any] = {
    "name": "my_service_or_workflow",
    "devices": ["Washington"],
    "pools": ["Pool1", "Pool2"],
    "ip_addresses": ["127.0.0.1"],
    "async": True,
    "user_identified_key": "user_identified_value",
    "aid": "1-2-3",
}
DEVICES: list[dict[str, Any]] = [
    {"name": "Washington", "ip_address": "127.0.0.1", "vendor": "Cisco", "rack": "A1"},
    {"name": "Boston", "ip_address": "10.0.0.2", "vendor": "Juniper"},
    {"name": "Austin", "ip_address": "10.0.0.3", "vendor": "Cisco"},
    {"name": "Denver", "ip_address": "10.0.0.4", "vendor": "Arista"},
    {"name": "Miami", "ip_address": "10.0.0.5", "vendor": "Nokia"},
]
POOLS: list[dict[str, Any]] = [
    # Pool1 by filter: the Cisco devices (Washington, Austin).
    {"name": "Pool1", "device_vendor": "Cisco", "device_vendor_match": "equality"},
    # Pool2 by hand: Boston and Washington again.
    {"name": "Pool2", "devices": ["Boston", "Washington"], "manually_defined": True},
]
SEED_TARGETS = ["Austin", "Boston", "Washington"]  # the union, each once
# Appends a line to a marker file per device, so a test can count executions.
MARKER = (
    "import os\n"
    "if payload.get('marker_dir'):\n"
    "    name = device.name if device is not None else '_no_device'\n"
    "    with open(os.path.join(payload['marker_dir'], name), 'a') as marker:\n"
    "        marker.write(f'{os.getpid()}\\n')\n"
)
SEED_SNIPPET = MARKER + (
    "log('info', f'running on {device.name}')\n"
    "results['success'] = True\n"
    "results['result'] = {\n"
    "    'device': device.name, 'ip_address': device.ip_address,\n"
    "    'vendor': device['vendor'], 'rack': device.get('rack'), 'payload': payload,\n"
    "}\n"
)
RUNTIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")
DURATION = re.compile(r"^\d+:\d\d:\d\d$")
SYNC_KEYS = {"runtime", "success", "summary", "duration", "trigger", "devices", "errors"}


# Helpers -----------------------------------------------------------------------------------


def door(server: ServerProcess, instance: str) -> httpx.Client:
    """A client as eNMS's: HTTP Basic on every request, the key as the password."""
    return httpx.Client(base_url=server.base_url, auth=("admin", server.admin_key or ""),
                        headers={"X-RUNPLANE-INSTANCE": instance}, timeout=120)


def save(client: httpx.Client, kind: str, body: Any) -> None:
    response = client.post(f"/rest/instance/{kind}", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert "failure" not in answer, answer  # eNMS lists failures only when there are some
    assert answer["success"], answer


def service(client: httpx.Client, name: str, source_code: str, **fields: Any) -> None:
    save(client, "service", {"name": name, "type": "python_snippet_service",
                             "source_code": source_code, **fields})


def run_service(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/rest/run_service", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def alert_of(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"alert"}, body
    assert body["alert"].startswith(f"Error {status} - "), body
    return str(body["alert"])


def get_result(client: httpx.Client, name: str, runtime: str) -> dict[str, Any]:
    response = client.get(f"/rest/result/{name}/{runtime}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def wait_result(client: httpx.Client, name: str, runtime: str, *, timeout: float = 60
                ) -> dict[str, Any]:
    """Poll /rest/result until the run has ended; answer the result (the summary)."""
    final = wait_until(lambda: get_result(client, name, runtime),
                       lambda answer: answer["status"] != "Running",
                       timeout=timeout, what=f"end of run {runtime}")
    assert final["status"] in ("Completed", "Aborted"), final
    return final["result"]  # type: ignore[no-any-return]


def markers(directory: Path) -> dict[str, int]:
    """Executions seen per device: the lines of each marker file."""
    return {path.name: len(path.read_text().splitlines()) for path in directory.iterdir()}


def runs_in(database_url: str, instance: str) -> int:
    """Runs of an instance, read from the database itself (no endpoint lists runs)."""
    url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sqlalchemy.text(
                "SELECT count(*) FROM runs JOIN instances ON instances.id = runs.instance_id "
                "WHERE instances.name = :name"), {"name": instance}).scalar_one())
    finally:
        engine.dispose()


def process_gone(pid: int) -> bool:
    """True once `pid` has exited (a zombie waiting for its parent counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


def check_sync_shape(answer: dict[str, Any]) -> None:
    """The seed's synchronous answer: its keys, with their types and formats."""
    assert set(answer) >= SYNC_KEYS, answer
    assert RUNTIME.match(answer["runtime"]), answer["runtime"]
    assert isinstance(answer["success"], bool)
    assert set(answer["summary"]) == {"success", "failure", "discard"}
    assert DURATION.match(answer["duration"]), answer["duration"]
    assert answer["trigger"] == "REST"
    assert isinstance(answer["devices"], dict)
    assert answer["errors"] == []


# Fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def client(shared_server: ServerProcess, instance: str) -> Iterator[httpx.Client]:
    with door(shared_server, instance) as http:
        yield http


@pytest.fixture
def marker_dir() -> Iterator[Path]:
    directory = scratch_dir()
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def seeded(client: httpx.Client, marker_dir: Path) -> httpx.Client:
    """The seed's world: five devices, Pool1 (filter) and Pool2 (manual), and the service."""
    save(client, "device", DEVICES)
    save(client, "pool", POOLS)
    service(client, "my_service_or_workflow", SEED_SNIPPET,
            initial_payload={"marker_dir": str(marker_dir)})
    return client


# The seed's request ------------------------------------------------------------------------


def check_seed_devices(answer: dict[str, Any], sent: dict[str, Any], marker_dir: Path) -> None:
    """Each target once, with what its snippet saw: the payload and the device's attributes."""
    assert answer["success"] is True
    assert answer["summary"] == {"success": SEED_TARGETS, "failure": [], "discard": []}
    assert sorted(answer["devices"]) == SEED_TARGETS
    for name in SEED_TARGETS:
        shown = answer["devices"][name]
        assert shown["success"] is True
        seen = shown["result"]
        assert seen["device"] == name
        assert seen["payload"] == {"marker_dir": str(marker_dir), **sent}
        assert seen["payload"]["aid"] == "1-2-3"
        assert seen["payload"]["user_identified_key"] == "user_identified_value"
    washington = answer["devices"]["Washington"]["result"]
    assert (washington["ip_address"], washington["vendor"], washington["rack"]) == (
        "127.0.0.1", "Cisco", "A1")
    assert answer["devices"]["Boston"]["result"]["vendor"] == "Juniper"
    # Washington is named four ways (by name, by address, in both pools): it ran once.
    assert markers(marker_dir) == dict.fromkeys(SEED_TARGETS, 1)


def test_seed_request_async_answers_runtime_then_result(
    seeded: httpx.Client, marker_dir: Path
) -> None:
    answer = run_service(seeded, SEED_REQUEST)
    assert set(answer) == {"errors", "runtime"}
    assert answer["errors"] == []
    assert RUNTIME.match(answer["runtime"]), answer
    result = wait_result(seeded, "my_service_or_workflow", answer["runtime"])
    check_sync_shape(result)
    assert result["runtime"] == answer["runtime"]
    check_seed_devices(result, SEED_REQUEST, marker_dir)
    logs = seeded.get(f"/rest/logs/{answer['runtime']}").json()["logs"]
    assert sorted((line["source"], line["message"]) for line in logs) == [
        (name, f"running on {name}") for name in SEED_TARGETS]


@pytest.mark.parametrize("mode", ["async false", "no async key"])
def test_seed_request_sync_answers_the_seed_shape(
    seeded: httpx.Client, marker_dir: Path, mode: str
) -> None:
    body = dict(SEED_REQUEST)
    if mode == "async false":
        body["async"] = False
    else:
        del body["async"]  # the seed: async defaults to false
    answer = run_service(seeded, body)
    check_sync_shape(answer)
    check_seed_devices(answer, body, marker_dir)
    if mode == "no async key":
        assert "async" not in answer["devices"]["Austin"]["result"]["payload"]
    again = get_result(seeded, "my_service_or_workflow", answer["runtime"])
    assert again["status"] == "Completed"
    assert again["result"]["summary"] == answer["summary"]


def test_result_while_running_says_no_results_yet(client: httpx.Client) -> None:
    save(client, "device", DEVICES[:1])
    service(client, "slow", "import time\ntime.sleep(1.5)\nresults['success'] = True")
    runtime = run_service(client, {"name": "slow", "async": True})["runtime"]
    assert get_result(client, "slow", runtime) == {"status": "Running",
                                                   "result": "No results yet."}
    assert wait_result(client, "slow", runtime)["success"] is True
    # The runtime belongs to "slow": asked under another service name it is not found.
    # eNMS's answer: 200 with `error`.
    no_run = {"error": "There are no results or on-going services for the requested service "
                       "and runtime."}
    for path in (f"/rest/result/other/{runtime}", "/rest/result/slow/2001-01-01 00:00:00.000000"):
        unknown = client.get(path)
        assert (unknown.status_code, unknown.json()) == (200, no_run)


# Targets ------------------------------------------------------------------------------------


def test_given_targets_replace_the_service_defaults(
    seeded: httpx.Client, marker_dir: Path
) -> None:
    save(seeded, "pool", {"name": "Southern", "devices": ["Austin", "Miami"],
                          "manually_defined": True})
    service(seeded, "defaults", SEED_SNIPPET, devices=["Boston"], pools=["Southern"],
            initial_payload={"marker_dir": str(marker_dir)})

    def targets(**given: Any) -> list[str]:
        answer = run_service(seeded, {"name": "defaults", **given})
        assert answer["success"] is True, answer
        assert answer["summary"]["failure"] == []
        return answer["summary"]["success"]  # type: ignore[no-any-return]

    assert targets() == ["Austin", "Boston", "Miami"]  # the service's own
    assert targets(devices=[], pools=[]) == ["Austin", "Boston", "Miami"]  # empty: none given
    assert targets(devices=["Denver"]) == ["Denver"]
    assert targets(pools=["Pool2"]) == ["Boston", "Washington"]
    assert targets(ip_addresses=["10.0.0.5"]) == ["Miami"]
    assert markers(marker_dir) == {"Austin": 2, "Boston": 3, "Miami": 3, "Denver": 1,
                                   "Washington": 1}


def test_a_service_without_targets_runs_once(client: httpx.Client, marker_dir: Path) -> None:
    save(client, "device", DEVICES)
    service(client, "lonely", MARKER + "results['success'] = True\n"
                                       "results['result'] = repr(device)",
            initial_payload={"marker_dir": str(marker_dir)})
    answer = run_service(client, {"name": "lonely"})
    check_sync_shape(answer)
    assert answer["success"] is True
    assert answer["summary"] == {"success": [], "failure": [], "discard": []}
    assert answer["devices"] == {}
    assert answer["result"]["result"] == "None"
    assert markers(marker_dir) == {"_no_device": 1}


def test_run_method_once_runs_once_for_all_targets(
    client: httpx.Client, marker_dir: Path
) -> None:
    save(client, "device", DEVICES)
    code = MARKER + "results['success'] = True\nresults['result'] = META.get('targets')"
    service(client, "together", code, run_method="once", devices=["Boston", "Denver"],
            initial_payload={"marker_dir": str(marker_dir)})
    answer = run_service(client, {"name": "together"})
    assert answer["success"] is True
    assert answer["summary"] == {"success": ["Boston", "Denver"], "failure": [], "discard": []}
    assert answer["result"]["result"] == ["Boston", "Denver"]  # the code learns its targets
    assert markers(marker_dir) == {"_no_device": 1}
    # Per device, each execution has its device: the whole list is not shipped to each.
    service(client, "each", code, devices=["Boston", "Denver"])
    each = run_service(client, {"name": "each"})
    assert [each["devices"][name]["result"] for name in ("Boston", "Denver")] == [None, None]


# Bad input ----------------------------------------------------------------------------------


def test_unknown_service_is_403_not_authorized_as_enms(client: httpx.Client) -> None:
    message = alert_of(client.post("/rest/run_service", json={"name": "nope"}), 403)
    assert message == "Error 403 - Not Authorized."


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "   "}, {"name": 5}])
def test_missing_or_empty_name_is_400_alert(client: httpx.Client, body: dict[str, Any]
                                            ) -> None:
    assert "name" in alert_of(client.post("/rest/run_service", json=body), 400)


@pytest.mark.parametrize("given", [
    {"devices": "Washington"}, {"pools": {"Pool1": True}}, {"ip_addresses": "127.0.0.1"},
    {"devices": [1, 2]}, {"pools": [["Pool1"]]},
])
def test_targets_that_are_not_lists_of_names_are_400_alert(
    seeded: httpx.Client, shared_server: ServerProcess, instance: str, given: dict[str, Any]
) -> None:
    response = seeded.post("/rest/run_service",
                           json={"name": "my_service_or_workflow", **given})
    message = alert_of(response, 400)
    assert next(iter(given)) in message
    assert runs_in(shared_server.database_url, instance) == 0


def test_unknown_targets_answer_errors_and_run_nothing(
    seeded: httpx.Client, shared_server: ServerProcess, instance: str, marker_dir: Path
) -> None:
    body = {"name": "my_service_or_workflow", "devices": ["Washington", "Nowhere"],
            "pools": ["Pool1", "NoPool"], "ip_addresses": ["127.0.0.1", "192.0.2.9"]}
    # A flag sent as the string "false" means false (clients posting forms do so).
    for extra in ({"async": True}, {"async": False}, {"ignore_invalid_targets": "false"}):
        answer = run_service(seeded, {**body, **extra})
        assert answer == {"errors": [
            "No device with the name 'Nowhere'",
            "No device with the IP address '192.0.2.9'",
            "No pool with the name 'NoPool'",
        ]}
    assert runs_in(shared_server.database_url, instance) == 0
    assert markers(marker_dir) == {}


def test_ignore_invalid_targets_runs_the_known_ones_and_lists_errors(
    seeded: httpx.Client, shared_server: ServerProcess, instance: str, marker_dir: Path
) -> None:
    body = {"name": "my_service_or_workflow", "devices": ["Boston", "Nowhere"],
            "pools": ["NoPool"], "ip_addresses": ["10.0.0.4"],
            "ignore_invalid_targets": True}
    errors = ["No device with the name 'Nowhere'", "No pool with the name 'NoPool'"]
    answer = run_service(seeded, body)
    assert answer["errors"] == errors
    assert answer["summary"] == {"success": ["Boston", "Denver"], "failure": [], "discard": []}
    asynchronous = run_service(seeded, {**body, "async": "true"})
    assert asynchronous["errors"] == errors
    result = wait_result(seeded, "my_service_or_workflow", asynchronous["runtime"])
    assert result["summary"]["success"] == ["Boston", "Denver"]
    assert markers(marker_dir) == {"Boston": 2, "Denver": 2}
    # Nothing known is left: nothing runs (not the service once without a device).
    nothing = run_service(seeded, {"name": "my_service_or_workflow", "devices": ["Nowhere"],
                                   "ignore_invalid_targets": True})
    assert nothing == {"errors": ["No device with the name 'Nowhere'"]}
    assert runs_in(shared_server.database_url, instance) == 2
    assert markers(marker_dir) == {"Boston": 2, "Denver": 2}


# Faults of snippets ------------------------------------------------------------------------

FAULTY = """
import time
name = device.name
if name == "raiser":
    raise ValueError("boom from " + name)
if name == "sleeper":
    results["success"] = True  # set, but it never gets to return
    while True:
        time.sleep(0.1)
if name == "quitter":
    results["success"] = True
    results["result"] = "before exit"
    exit()
    results["result"] = "after exit"
if name == "fine":
    results["success"] = True
    results["result"] = "ok"
if name == "refuser":
    results["success"] = False
    results["result"] = "said no"
# "silent" leaves results unset.
"""
FAULTY_DEVICES = ["fine", "quitter", "raiser", "refuser", "silent", "sleeper"]


def test_snippet_faults_are_each_devices_failure(client: httpx.Client) -> None:
    save(client, "device", [{"name": name} for name in FAULTY_DEVICES])
    service(client, "faulty", FAULTY, devices=FAULTY_DEVICES, timeout=1)
    started = time.monotonic()
    answer = run_service(client, {"name": "faulty"})
    elapsed = time.monotonic() - started
    check_sync_shape(answer)
    assert elapsed < 20, elapsed  # the sleeper was cut off by its 1 s timeout
    assert answer["success"] is False
    assert answer["summary"] == {"success": ["fine", "quitter"],
                                 "failure": ["raiser", "refuser", "silent", "sleeper"],
                                 "discard": []}
    shown = answer["devices"]
    assert shown["fine"]["result"] == "ok"
    assert shown["quitter"]["result"] == "before exit"  # exit() ended it there, a success
    raiser = shown["raiser"]
    assert raiser["success"] is False
    assert "Traceback" in raiser["stderr"]
    assert "ValueError: boom from raiser" in raiser["stderr"]
    assert (raiser["result"]["step"], raiser["result"]["error"]) == ("execute", "boom from raiser")
    assert shown["refuser"]["success"] is False
    assert shown["refuser"]["result"] == "said no"
    silent = shown["silent"]
    assert silent["success"] is False
    assert "Result not set by user code on service instance" in str(silent["result"])
    sleeper = shown["sleeper"]
    assert sleeper["success"] is False
    assert "timed out" in sleeper["error"].lower()
    assert sleeper["duration_ms"] < 10_000


RETRYING = """
import os
counter = os.path.join(payload["counter_dir"], device.name)
with open(counter, "a") as file:
    file.write("x")
attempt = len(open(counter).read())
log("info", f"attempt {attempt}")
if device.name == "broken" or attempt < 3:
    raise RuntimeError(f"failing attempt {attempt}")
results["success"] = True
results["result"] = attempt
"""


def test_retries_rerun_a_failing_target_and_the_logs_show_them(
    client: httpx.Client, marker_dir: Path
) -> None:
    save(client, "device", [{"name": "flaky"}, {"name": "broken"}])
    service(client, "retrying", RETRYING, devices=["broken", "flaky"], number_of_retries=2,
            time_between_retries=0.2)
    answer = run_service(client, {"name": "retrying", "counter_dir": str(marker_dir)})
    assert answer["summary"] == {"success": ["flaky"], "failure": ["broken"], "discard": []}
    assert answer["devices"]["flaky"]["result"] == 3  # success on the third attempt
    assert "failing attempt 3" in answer["devices"]["broken"]["stderr"]
    assert {path.name: path.read_text() for path in marker_dir.iterdir()} == {
        "flaky": "xxx", "broken": "xxx"}
    logs = client.get(f"/rest/logs/{answer['runtime']}").json()["logs"]
    for name in ("flaky", "broken"):
        mine = [line for line in logs if line["source"] == name]
        assert [line["message"] for line in mine if line["severity"] == "info"] == [
            "attempt 1", "attempt 2", "attempt 3"]
        retries = [line["message"] for line in mine if line["severity"] == "warning"]
        assert len(retries) == 2, mine
        assert "retrying in 0.2 s (2 retries left)" in retries[0]
        assert "retrying in 0.2 s (1 retry left)" in retries[1]
        # Each says why the attempt failed: the exception the snippet raised.
        assert retries[0].endswith("RuntimeError: failing attempt 1"), retries[0]
        assert retries[1].endswith("RuntimeError: failing attempt 2"), retries[1]


# Shell commands and scripts -----------------------------------------------------------------


def test_shell_command_service_reads_its_stdin_json(client: httpx.Client) -> None:
    save(client, "device", DEVICES[:2])
    save(client, "service", {"name": "cat", "type": "shell_command_service",
                             "command": "cat", "devices": ["Boston", "Washington"]})
    save(client, "service", {
        "name": "py", "type": "shell_command_service", "devices": ["Washington"],
        "command": "python3 -c 'import json, sys; d = json.load(sys.stdin); "
                   "print(d[\"device\"][\"ip_address\"], d[\"payload\"][\"aid\"])'"})
    answer = run_service(client, {"name": "cat", "aid": "1-2-3"})
    assert answer["summary"] == {"success": ["Boston", "Washington"], "failure": [], "discard": []}
    seen = json.loads(answer["devices"]["Washington"]["result"])
    assert seen["device"]["name"] == "Washington"
    assert seen["device"]["rack"] == "A1"
    assert seen["payload"] == {"name": "cat", "aid": "1-2-3"}
    python = run_service(client, {"name": "py", "aid": "1-2-3"})
    assert python["devices"]["Washington"]["result"] == "127.0.0.1 1-2-3"


def test_a_shell_command_exiting_without_reading_stdin_reports_its_exit_code(
    client: httpx.Client
) -> None:
    """The command may exit before its stdin JSON is written: that is its exit, not ours."""
    names = [f"q{index}" for index in range(6)]
    save(client, "device", [{"name": name} for name in names])
    save(client, "service", {"name": "fails", "type": "shell_command_service",
                             "command": "echo oops >&2; exit 3", "devices": names})
    failed = run_service(client, {"name": "fails"})
    assert failed["success"] is False
    assert failed["summary"] == {"success": [], "failure": names, "discard": []}
    for name in names:
        shown = failed["devices"][name]
        assert (shown.get("exit_code"), shown.get("stderr")) == (3, "oops\n"), shown


def test_script_service_runs_a_script_of_the_script_door(
    shared_server: ServerProcess, instance: str, client: httpx.Client
) -> None:
    with shared_server.client() as admin:
        script = create_script(admin, instance,
                               'print(ARGS["aid"], META["device"]["name"], META["service"])')
    save(client, "device", DEVICES[:2])
    save(client, "service", {"name": "scripted", "type": "script_service", "script": script,
                             "devices": ["Boston", "Washington"]})
    answer = run_service(client, {"name": "scripted", "aid": "1-2-3"})
    assert answer["summary"] == {"success": ["Boston", "Washington"], "failure": [], "discard": []}
    assert answer["devices"]["Boston"]["result"] == "1-2-3 Boston scripted"
    assert client.get("/rest/instance/service/scripted").json()["script"] == script
    # A script that does not exist is refused when the service is saved.
    message = alert_of(client.post("/rest/instance/service", json={
        "name": "dangling", "type": "script_service", "script": 999_999}), 400)
    assert "script" in message


# Stop ---------------------------------------------------------------------------------------

SLEEPER = """
import os, time
with open(os.path.join(payload["pid_dir"], device.name), "w") as file:
    file.write(str(os.getpid()))
time.sleep(30)
results["success"] = True
"""


def test_stop_aborts_queued_targets_and_kills_running_ones(
    client: httpx.Client, marker_dir: Path
) -> None:
    names = [f"s{index:02d}" for index in range(20)]
    save(client, "device", [{"name": name} for name in names])
    service(client, "sleepy", SLEEPER, devices=names, max_processes=2, timeout=120)
    runtime = run_service(client, {"name": "sleepy", "async": True,
                                   "pid_dir": str(marker_dir)})["runtime"]
    wait_until(lambda: sorted(path.name for path in marker_dir.iterdir()),
               lambda started: len(started) == 2 and all(
                   (marker_dir / name).read_text() for name in started),
               timeout=60, what="two targets running")
    running = {path.name: int(path.read_text()) for path in marker_dir.iterdir()}

    started = time.monotonic()
    response = client.post(f"/rest/stop/{runtime}")
    answered = time.monotonic() - started
    assert response.status_code == 200, response.text
    stop = response.json()
    assert answered < 5, answered
    assert stop["stopped"] is True
    assert sorted(stop["stopping"]) == sorted(running)
    assert sorted(stop["aborted"]) == sorted(set(names) - set(running))

    result = wait_result(client, "sleepy", runtime, timeout=15)
    assert time.monotonic() - started < 15
    assert get_result(client, "sleepy", runtime)["status"] == "Aborted"
    assert result["success"] is False
    assert result["summary"] == {"success": [], "failure": names, "discard": []}
    assert all("Aborted" in str(result["devices"][name].get("error")) for name in names)
    wait_until(lambda: [pid for pid in running.values() if not process_gone(pid)],
               lambda alive: alive == [], timeout=10, what="stopped targets' processes gone")
    assert sorted(path.name for path in marker_dir.iterdir()) == sorted(running)  # none began
    again = client.post(f"/rest/stop/{runtime}").json()
    assert (again["stopped"], again["status"]) == (False, "Aborted")
    alert_of(client.post("/rest/stop/2001-01-01 00:00:00.000000"), 404)


def test_stop_during_a_fast_fan_out_ends_the_run(client: httpx.Client, marker_dir: Path) -> None:
    """Trivial targets spend most of their time being recorded: a stop landing then must
    still end the run (the targets running at the stop are recorded, aborted or not)."""
    names = [f"f{index:03d}" for index in range(300)]
    save(client, "device", [{"name": name} for name in names])
    service(client, "fast", MARKER + "results['success'] = True", devices=names,
            max_processes=50)
    runtime = run_service(client, {"name": "fast", "async": True,
                                   "marker_dir": str(marker_dir)})["runtime"]
    wait_until(lambda: len(list(marker_dir.iterdir())), lambda count: count >= 20,
               timeout=60, what="20 targets executed")
    stop = client.post(f"/rest/stop/{runtime}").json()
    assert stop["stopped"] is True
    assert stop["aborted"], stop  # most targets were still queued
    result = wait_result(client, "fast", runtime, timeout=20)
    assert get_result(client, "fast", runtime)["status"] == "Aborted"
    summary = result["summary"]
    assert sorted(summary["success"] + summary["failure"]) == names
    assert set(stop["aborted"]) <= set(summary["failure"])
    ran = set(markers(marker_dir))
    assert set(summary["success"]) <= ran
    assert not ran & set(stop["aborted"])  # an aborted target never started


# Logs ---------------------------------------------------------------------------------------

LOGGING = """
import time
for index in range(3):
    log("info" if index else "warning", f"{device.name} line {index}")
time.sleep(0.3)
results["success"] = True
"""


def test_logs_page_with_an_offset_and_tail_a_running_run(client: httpx.Client) -> None:
    names = ["a1", "a2", "a3", "a4"]
    save(client, "device", [{"name": name} for name in names])
    service(client, "chatty", LOGGING, devices=names, max_processes=1)
    runtime = run_service(client, {"name": "chatty", "async": True})["runtime"]
    tailed: list[dict[str, Any]] = []
    offset = 0
    calls_with_news = 0

    def tail() -> dict[str, Any]:
        nonlocal offset, calls_with_news
        response = client.get(f"/rest/logs/{runtime}", params={"offset": offset})
        assert response.status_code == 200, response.text
        page = response.json()
        assert all(line["id"] > offset for line in page["logs"])  # only newer lines
        if page["logs"]:
            calls_with_news += 1
            assert page["offset"] == page["logs"][-1]["id"]
        else:
            assert page["offset"] == offset
        tailed.extend(page["logs"])
        offset = page["offset"]
        return page

    wait_until(tail, lambda page: page["status"] == "Completed", timeout=60,
               what="the run's end, tailing its logs")
    assert calls_with_news >= 2  # the tail saw lines arrive while the run went on
    assert tail()["logs"] == []  # nothing after the last line
    expected = [f"{name} line {index}" for name in names for index in range(3)]
    assert [line["message"] for line in tailed] == expected
    assert [line["source"] for line in tailed] == [name for name in names for _ in range(3)]
    assert [line["severity"] for line in tailed[:3]] == ["warning", "info", "info"]
    everything = client.get(f"/rest/logs/{runtime}").json()
    assert everything["logs"] == tailed
    # Paging by `limit`: each page continues from the offset the previous one returned.
    pages, offset = [], 0
    while True:
        page = client.get(f"/rest/logs/{runtime}", params={"offset": offset, "limit": 5}).json()
        if not page["logs"]:
            break
        pages.append(len(page["logs"]))
        offset = page["offset"]
    assert pages == [5, 5, 2]
    alert_of(client.get(f"/rest/logs/{runtime}", params={"offset": -1}), 400)
    alert_of(client.get("/rest/logs/2001-01-01 00:00:00.000000"), 404)


# The sync wait limit ------------------------------------------------------------------------


def test_sync_run_past_the_wait_limit_answers_running_then_result(
    database_url: str, tmp_path: Path
) -> None:
    server = ServerProcess(database_url, tmp_path,
                           env={"RUNPLANE_SERVICE_SYNC_WAIT_SECONDS": "1"}).start()
    try:
        with server.client() as admin:
            name = create_instance(admin)
        with door(server, name) as http:
            save(http, "device", DEVICES[:1])
            service(http, "long", "import time\ntime.sleep(3)\nresults['success'] = True\n"
                                  "results['result'] = 'late'", devices=["Washington"])
            started = time.monotonic()
            answer = run_service(http, {"name": "long"})
            waited = time.monotonic() - started
            assert 0.9 <= waited < 2.5, waited
            assert answer["status"] == "Running"
            assert answer["success"] is None
            assert answer["errors"] == []
            assert RUNTIME.match(answer["runtime"])
            assert get_result(http, "long", answer["runtime"])["result"] == "No results yet."
            result = wait_result(http, "long", answer["runtime"], timeout=30)
            assert result["success"] is True
            assert result["devices"]["Washington"]["result"] == "late"
    finally:
        server.stop()


# A crash mid-run ----------------------------------------------------------------------------

RESUMABLE = """
import os, time
with open(os.path.join(payload["marker_dir"], device.name), "a") as marker:
    marker.write("started\\n")
time.sleep(0.5)
results["success"] = True
"""


def test_a_run_interrupted_by_a_crash_resumes_without_rerunning_finished_targets(
    database_url: str, tmp_path: Path, marker_dir: Path
) -> None:
    env = {"RUNPLANE_LEASE_SECONDS": "2", "RUNPLANE_WORKERS": "4"}
    names = [f"c{index:02d}" for index in range(30)]
    server = ServerProcess(database_url, tmp_path, env=env).start()
    try:
        with server.client() as admin:
            instance = create_instance(admin)
        with door(server, instance) as http:
            save(http, "device", [{"name": name} for name in names])
            service(http, "resumable", RESUMABLE, devices=names, max_processes=4)
            runtime = run_service(http, {"name": "resumable", "async": True,
                                         "marker_dir": str(marker_dir)})["runtime"]
            wait_until(lambda: len(list(marker_dir.iterdir())), lambda count: count >= 10,
                       timeout=60, what="a third of the targets started")
    finally:
        server.kill()
    started_before = set(markers(marker_dir))
    assert len(started_before) < 30, "the run ended before the kill: nothing to resume"

    restarted = ServerProcess(database_url, tmp_path, env=env, port=server.port).start()
    restarted.admin_key = server.admin_key
    try:
        with door(restarted, instance) as http:
            result = wait_result(http, "resumable", runtime, timeout=90)
    finally:
        restarted.stop()
    assert result["success"] is True
    assert result["summary"] == {"success": names, "failure": [], "discard": []}
    seen = markers(marker_dir)
    assert sorted(seen) == names and all(count >= 1 for count in seen.values()), seen
    twice = {name for name, count in seen.items() if count > 1}
    # Only targets running at the kill (at most max_processes of them) ran again.
    assert twice <= started_before
    assert len(twice) <= 4, seen
    assert all(count <= 2 for count in seen.values()), seen


# 10,000 devices -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_ten_thousand_devices_in_one_request(database_url: str, tmp_path: Path) -> None:
    names = [f"d{index:05d}" for index in range(10_000)]
    server = ServerProcess(database_url, tmp_path).start()
    try:
        with server.client() as admin:
            instance = create_instance(admin)
        with door(server, instance) as http:
            made = http.post("/rest/instance/device", json=[
                {"name": name, "ip_address": f"10.9.{index // 256}.{index % 256}"}
                for index, name in enumerate(names)])
            assert made.status_code == 200, made.text
            assert len(made.json()["success"]) == 10_000
            service(http, "trivial", "results['success'] = True", max_processes=50)
            started = time.monotonic()
            answer = run_service(http, {"name": "trivial", "devices": names, "async": True})
            assert answer["errors"] == []
            result = wait_result(http, "trivial", answer["runtime"], timeout=540)
            elapsed = time.monotonic() - started
    finally:
        server.stop()
    print(f"\n10,000 targets in {elapsed:.1f} s ({10_000 / elapsed:.0f} targets/s)")
    assert result["success"] is True
    assert result["summary"]["failure"] == []
    assert result["summary"]["success"] == names


# Targets sharing a process (engine/service_batch.py) ---------------------------------------

GROUPED_SNIPPET = MARKER + (
    "import os, time\n"
    "if device.name == 'd13':\n"
    "    os._exit(3)\n"
    "if device.name == 'd21':\n"
    "    time.sleep(30)\n"
    "if device.name == 'd30':\n"
    "    raise RuntimeError('d30 is broken')\n"
    "results['success'] = True\n"
    "results['result'] = device.name\n"
)


def test_targets_that_share_a_process_fail_alone(database_url: str, tmp_path: Path) -> None:
    """With 2 slots and 40 devices, processes take several targets in turn. One target kills
    its process, one overruns its timeout, one raises: each of them fails with its reason,
    every other device succeeds, and none runs twice (the ones the dead process had not
    begun run in another)."""
    names = [f"d{index:02d}" for index in range(40)]
    marks = scratch_dir()
    server = ServerProcess(database_url, tmp_path, env={
        "RUNPLANE_WORKERS": "2", "RUNPLANE_SERVICE_BATCH_SIZE": "8",
    }).start()
    try:
        with server.client() as admin:
            instance = create_instance(admin)
        with door(server, instance) as http:
            save(http, "device", [{"name": name} for name in names])
            service(http, "grouped", GROUPED_SNIPPET, timeout=1)
            answer = run_service(http, {"name": "grouped", "devices": names, "async": True,
                                        "marker_dir": str(marks)})
            result = wait_result(http, "grouped", answer["runtime"], timeout=120)
    finally:
        server.stop()
    failed = {"d13", "d21", "d30"}
    assert sorted(result["summary"]["failure"]) == sorted(failed)
    assert result["summary"]["success"] == [name for name in names if name not in failed]
    devices = result["devices"]
    assert "ended before it did" in devices["d13"]["error"]
    assert "Timed out after 1 s" in devices["d21"]["error"]
    assert "RuntimeError: d30 is broken" in devices["d30"]["stderr"]
    assert devices["d05"] == {"success": True, "result": "d05", "exit_code": 0,
                              "duration_ms": devices["d05"]["duration_ms"],
                              "device_target": "d05", "duration": devices["d05"]["duration"],
                              "runtime": devices["d05"]["runtime"]}
    seen = markers(marks)
    assert set(seen) == set(names) and set(seen.values()) == {1}, seen
    # Several targets per process: fewer processes than targets.
    pids = {path.read_text().strip() for path in marks.iterdir()}
    assert len(pids) < len(names) / 2, pids
