"""One scripted sequence of eNMS REST requests, how to send it, how to normalise the answers
and how to compare two sets of answers: shared by scripts/enms_side_by_side.py (which sends it
to the real eNMS 4.7 and to runplane and records eNMS's answers) and by
tests/acceptance/test_enms_recording.py (which replays it on runplane against the recording).

The sequence starts from empty inventories and runs in order: later steps use what earlier
ones made (devices, pools, services) and may name an earlier run's runtime as
`{runtime:<step name>}` in their path.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

RECORDING_FORMAT = 1
# How long a polled /rest/result may stay "Running" (a run of three devices takes seconds).
POLL_SECONDS = 90.0

# Snippets both systems run: eNMS and runplane hand the code `results`, `device`, `payload`.
SNIPPET_OK = (
    "results['success'] = True\n"
    "results['result'] = {'name': device.name, 'ip_address': device.ip_address}\n"
)
SNIPPET_FAIL = "raise ValueError('boom')\n"


@dataclass(frozen=True)
class Step:
    """One request. `auth`: "admin" (each system's admin credentials), "wrong" (Basic with a
    wrong password) or "none". `only`: a system name if the step is sent to that system alone
    (a setup step, not compared). `poll`: resend while the answer's status is "Running"."""

    name: str
    method: str
    path: str
    body: Any = None
    auth: str = "admin"
    only: str | None = None
    poll: bool = False
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        request: dict[str, Any] = {"name": self.name, "method": self.method, "path": self.path}
        if self.body is not None:
            request["body"] = self.body
        if self.auth != "admin":
            request["auth"] = self.auth
        if self.poll:
            request["poll"] = True
        if self.note:
            request["note"] = self.note
        return request


DEVICE_ONE = {"name": "Washington", "ip_address": "10.0.0.1", "vendor": "Cisco",
              "model": "ISR4451", "operating_system": "IOS-XE", "location": "US-East"}
DEVICE_LIST = [
    {"name": "Boston", "ip_address": "10.0.0.2", "vendor": "Juniper"},
    {"name": "Austin", "ip_address": "10.0.0.3", "vendor": "Cisco"},
    {"name": "Denver", "ip_address": "10.0.0.4", "vendor": "Arista"},
    {"vendor": "Nameless"},  # refused: a name is required
]
FILTER_POOL = {"name": "CiscoPool", "device_vendor": "Cisco", "device_vendor_match": "equality"}
REGEX_POOL = {"name": "RegexPool", "device_name": "^(Austin|Denver)$",
              "device_name_match": "regex"}
MANUAL_POOL = {"name": "ManualPool", "manually_defined": True,
               "devices": ["Boston", "Washington"]}


def _search(columns: list[str], criteria: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "device", "columns": columns, "search_criteria": criteria, **extra}


SEQUENCE: list[Step] = [
    Step("is_alive", "GET", "/rest/is_alive", auth="none"),
    # Inventory: devices.
    Step("device_create_one", "POST", "/rest/instance/device", DEVICE_ONE),
    Step("device_create_list", "POST", "/rest/instance/device", DEVICE_LIST,
         note="a list with one nameless device"),
    Step("device_update", "POST", "/rest/instance/device",
         {"name": "Washington", "description": "edge router", "vendor": "Cisco"}),
    Step("device_get", "GET", "/rest/instance/device/Washington"),
    Step("device_query_vendor", "GET", "/rest/query/device?vendor=Cisco"),
    Step("device_query_none", "GET", "/rest/query/device?vendor=Nokia"),
    # Pools: by filter (equality, regex) and by hand.
    Step("pool_create_filter", "POST", "/rest/instance/pool", FILTER_POOL),
    Step("pool_create_list", "POST", "/rest/instance/pool", [REGEX_POOL, MANUAL_POOL]),
    Step("pool_get_filter_before_update", "GET", "/rest/instance/pool/CiscoPool"),
    Step("pool_get_manual", "GET", "/rest/instance/pool/ManualPool"),
    Step("pool_update_all", "POST", "/rest/update_all_pools"),
    Step("pool_get_filter", "GET", "/rest/instance/pool/CiscoPool"),
    Step("pool_get_regex", "GET", "/rest/instance/pool/RegexPool"),
    Step("pool_query_all", "GET", "/rest/query/pool"),
    # Search.
    Step("search_inclusion_lowercase", "POST", "/rest/search",
         _search(["name", "vendor"], {"vendor": "cisco"}),
         note="inclusion of 'cisco' (the devices say 'Cisco')"),
    Step("search_inclusion", "POST", "/rest/search",
         _search(["name", "vendor"], {"name": "o"})),
    Step("search_equality", "POST", "/rest/search",
         _search(["name", "ip_address"], {"vendor": "Cisco", "vendor_filter": "equality"})),
    Step("search_regex", "POST", "/rest/search",
         _search(["name"], {"name": "^[AB]", "name_filter": "regex"})),
    Step("search_order_desc", "POST", "/rest/search",
         _search(["name", "vendor"], {}, order=[{"column": 0, "dir": "desc"}])),
    Step("search_window", "POST", "/rest/search",
         _search(["name"], {}, order=[{"column": 0, "dir": "asc"}], start=1,
                 maximum_return_records=2)),
    Step("search_pools", "POST", "/rest/search",
         {"type": "pool", "columns": ["name", "manually_defined"], "search_criteria": {}}),
    # Services, each type runplane has, as eNMS creates them: the type is the path.
    Step("service_create_snippet", "POST", "/rest/instance/python_snippet_service",
         {"name": "snippet_ok", "scoped_name": "snippet_ok", "source_code": SNIPPET_OK}),
    Step("service_create_snippet_failing", "POST", "/rest/instance/python_snippet_service",
         {"name": "snippet_fail", "scoped_name": "snippet_fail", "source_code": SNIPPET_FAIL}),
    Step("service_create_shell_command", "POST", "/rest/instance/shell_command_service",
         {"name": "shell_echo", "scoped_name": "shell_echo", "command": "echo hello"},
         note="runplane's type; eNMS's nearest is unix_command_service"),
    Step("service_create_script", "POST", "/rest/instance/script_service",
         {"name": "script_svc", "scoped_name": "script_svc", "script": 1},
         note="runplane's type (a script of the script door); no script 1 exists"),
    Step("service_get", "GET", "/rest/instance/python_snippet_service/snippet_ok"),
    Step("service_get_as_service", "GET", "/rest/instance/service/snippet_ok"),
    Step("service_query", "GET", "/rest/query/service?name=snippet_ok"),
    # Runs.
    Step("run_sync_devices", "POST", "/rest/run_service",
         {"name": "snippet_ok", "devices": ["Washington", "Boston"], "async": False}),
    Step("run_sync_pools", "POST", "/rest/run_service",
         {"name": "snippet_ok", "pools": ["CiscoPool", "ManualPool"], "async": False}),
    Step("run_sync_ip_addresses", "POST", "/rest/run_service",
         {"name": "snippet_ok", "ip_addresses": ["10.0.0.3"], "async": False}),
    Step("run_sync_failing", "POST", "/rest/run_service",
         {"name": "snippet_fail", "devices": ["Denver"], "async": False}),
    Step("run_async", "POST", "/rest/run_service",
         {"name": "snippet_ok", "devices": ["Austin"], "pools": ["ManualPool"],
          "async": True, "aid": "1-2-3"}),
    Step("result_async", "GET", "/rest/result/snippet_ok/{runtime:run_async}", poll=True),
    Step("result_sync", "GET", "/rest/result/snippet_ok/{runtime:run_sync_devices}"),
    Step("result_unknown_runtime", "GET", "/rest/result/snippet_ok/2000-01-01 00:00:00.000000"),
    Step("run_async_default", "POST", "/rest/run_service",
         {"name": "snippet_ok", "devices": ["Austin"]}, note="no `async` key"),
    Step("result_async_default", "GET", "/rest/result/snippet_ok/{runtime:run_async_default}",
         poll=True),
    Step("run_unknown_targets", "POST", "/rest/run_service",
         {"name": "snippet_ok", "devices": ["Nowhere"], "pools": ["NoPool"],
          "ip_addresses": ["192.0.2.1"], "async": False}),
    Step("run_unknown_targets_ignored", "POST", "/rest/run_service",
         {"name": "snippet_ok", "devices": ["Nowhere", "Austin"], "async": False,
          "ignore_invalid_targets": True}),
    Step("run_unknown_service", "POST", "/rest/run_service",
         {"name": "no_such_service", "devices": ["Austin"], "async": False}),
    # Errors and deletions.
    Step("device_get_unknown", "GET", "/rest/instance/device/Nowhere"),
    Step("service_get_unknown", "GET", "/rest/instance/service/no_such_service"),
    Step("pool_get_unknown", "GET", "/rest/instance/pool/NoPool"),
    Step("unknown_path", "GET", "/rest/no_such_endpoint"),
    Step("wrong_credentials", "GET", "/rest/instance/device/Washington", auth="wrong"),
    Step("no_credentials", "GET", "/rest/instance/device/Washington", auth="none"),
    Step("device_delete", "DELETE", "/rest/instance/device/Denver"),
    Step("device_delete_again", "DELETE", "/rest/instance/device/Denver"),
    Step("pool_delete", "DELETE", "/rest/instance/pool/RegexPool"),
    Step("pool_get_deleted", "GET", "/rest/instance/pool/RegexPool"),
    Step("service_delete", "DELETE", "/rest/instance/service/snippet_fail"),
    Step("device_query_after_delete", "GET", "/rest/query/device"),
]


@dataclass
class Target:
    """A system to send the sequence to: its URL, its admin credentials (HTTP Basic) and
    headers sent on every request (runplane: the instance to work in)."""

    system: str  # "enms" or "runplane"
    base_url: str
    user: str
    password: str
    headers: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)  # replaced by "<secret>" in answers

    def auth(self, kind: str) -> tuple[str, str] | None:
        if kind == "admin":
            return (self.user, self.password)
        if kind == "wrong":
            return (self.user, "wrong-password")
        return None


def _path(step: Step, runtimes: dict[str, str]) -> str:
    def runtime_of(found: re.Match[str]) -> str:
        return runtimes.get(found.group(1), "no-runtime")

    return re.sub(r"\{runtime:(\w+)\}", runtime_of, step.path)


def _send(client: httpx.Client, target: Target, step: Step, path: str) -> httpx.Response:
    return client.request(step.method, path, json=step.body, auth=target.auth(step.auth))


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {"<not json>": response.text[:200]}


def replay(target: Target, steps: Iterable[Step] = SEQUENCE) -> dict[str, dict[str, Any]]:
    """Send the steps in order; answer {step name: {"status", "body"}} (bodies as sent,
    not normalised; steps of another system are skipped)."""
    answers: dict[str, dict[str, Any]] = {}
    runtimes: dict[str, str] = {}
    with httpx.Client(base_url=target.base_url, headers=target.headers, timeout=120) as client:
        for step in steps:
            if step.only not in (None, target.system):
                continue
            path = _path(step, runtimes)
            response = _send(client, target, step, path)
            deadline = time.monotonic() + POLL_SECONDS
            while (step.poll and time.monotonic() < deadline
                   and isinstance(_body(response), dict)
                   and _body(response).get("status") == "Running"):
                time.sleep(0.5)
                response = _send(client, target, step, path)
            body = _body(response)
            if isinstance(body, dict) and isinstance(body.get("runtime"), str):
                runtimes[step.name] = body["runtime"]
            answers[step.name] = {"status": response.status_code, "body": body}
    return answers


# Normalisation: what differs from run to run, and between two systems by necessity, is
# replaced by a placeholder of the same JSON type (so shapes compare the same).
TIME = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?")
DURATION = re.compile(r"^\d+:\d\d:\d\d(?:\.\d+)?$")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Keys whose value is an id, a time or a count of milliseconds on either side.
VOLATILE_NUMBERS = {"id", "duration_ms", "cluster_id", "completion_time"}
VOLATILE_TEXT = {"traceback": "<traceback>", "default_uuid": "<uuid>"}


def normalise(value: Any, secrets: Iterable[str] = (), key: str | None = None) -> Any:
    secrets = tuple(secret for secret in secrets if secret)
    if isinstance(value, dict):
        return {name: normalise(item, secrets, name) for name, item in value.items()}
    if isinstance(value, list):
        return [normalise(item, secrets, key) for item in value]
    if key == "name" and isinstance(value, int) and not isinstance(value, bool):
        return 0  # /rest/is_alive: eNMS's node number
    if isinstance(value, int | float) and not isinstance(value, bool):
        return 0 if key in VOLATILE_NUMBERS else value
    if isinstance(value, str):
        if key in VOLATILE_TEXT:
            return VOLATILE_TEXT[key]
        if value.startswith("Traceback (most recent call last)"):
            return "<traceback>"  # eNMS's failures of /rest/instance: paths of its install
        if key == "duration" or DURATION.match(value):
            return "<duration>"
        for secret in secrets:
            value = value.replace(secret, "<secret>")
        value = TIME.sub("<time>", value)
        return UUID.sub("<uuid>", value)
    return value


def normalise_answers(answers: dict[str, dict[str, Any]], secrets: Iterable[str] = ()
                      ) -> dict[str, dict[str, Any]]:
    secrets = list(secrets)
    return {name: {"status": answer["status"], "body": normalise(answer["body"], secrets)}
            for name, answer in answers.items()}


# Comparison: status codes, key sets, value types, and the values of plain scalars; lists
# by the merged shape of their items (and, for records with names, the names in order).


def _type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__  # str, list, dict


def _merged(items: list[Any]) -> Any:
    """The items of a list of objects as one object: each key with its first value seen."""
    merged: dict[str, Any] = {}
    for item in items:
        for name, value in item.items():
            merged.setdefault(name, value)
    return merged


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def differences(step: str, enms: Any, runplane: Any, where: str = "body", *,
                values: bool = True) -> list[str]:
    """Each difference as one line: `<step> <where>: eNMS <x> | runplane <y>`. `values`:
    compare scalar values too (not inside the merged items of a list: their shapes only)."""
    def line(left: str, right: str) -> list[str]:
        return [f"{step} {where}: eNMS {left} | runplane {right}"]

    if _type(enms) != _type(runplane):
        return line(_type(enms), _type(runplane))
    if isinstance(enms, dict):
        found: list[str] = []
        missing = sorted(set(enms) - set(runplane))
        extra = sorted(set(runplane) - set(enms))
        if missing:
            found += line(f"keys {missing}", "lacks them")
        if extra:
            found += line("lacks them", f"keys {extra}")
        for name in sorted(set(enms) & set(runplane)):
            found += differences(step, enms[name], runplane[name], f"{where}.{name}",
                                 values=values)
        return found
    if isinstance(enms, list):
        if all(isinstance(item, dict) for item in enms + runplane):
            found = []
            if enms and runplane:
                found += differences(step, _merged(enms), _merged(runplane), f"{where}[]",
                                     values=False)
            names = [[item.get("name") for item in side] for side in (enms, runplane)]
            if values and names[0] != names[1]:
                found += line(f"names {_text(names[0])}", f"names {_text(names[1])}")
            elif values and len(enms) != len(runplane):
                found += line(f"{len(enms)} items", f"{len(runplane)} items")
            return found
        if values and sorted(map(_text, enms)) != sorted(map(_text, runplane)):
            return line(_text(enms), _text(runplane))
        return []
    if values and enms != runplane:
        return line(_text(enms), _text(runplane))
    return []


def compare(recorded: dict[str, dict[str, Any]], answered: dict[str, dict[str, Any]]
            ) -> list[str]:
    """Every difference between eNMS's recorded answers and runplane's, step by step."""
    found: list[str] = []
    for name, expected in recorded.items():
        got = answered.get(name)
        if got is None:
            found.append(f"{name}: eNMS answered | runplane not sent")
            continue
        if expected["status"] != got["status"]:
            found.append(f"{name} status: eNMS {expected['status']} | runplane {got['status']}")
        found += differences(name, expected["body"], got["body"])
    return found
