"""Hostile strings and shapes (hostile.py) in the bodies, query strings and path segments
of normal requests of all three doors, as the admin key and as a `run`-role key.

Every answer must be below 500 and, if an error, JSON in its door's envelope; no request
may hang (each has a 30 s bound); afterwards the server still answers.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given

from tests.fuzz.budget import REQUEST_TIMEOUT, fuzz_settings, hostile_examples
from tests.fuzz.hostile import Request, Template, hostile_requests
from tests.fuzz.tally import Tally
from tests.fuzz.target import FuzzTarget, still_answers
from tests.support.envelopes import httpx_problem
from tests.support.fuzz_report import PROPERTY

PROBLEMS_SHOWN = 20
# Loopback's discard port: nothing listens, so a callback is refused or never delivered.
CALLBACK = "http://127.0.0.1:9/callback"
JOB = {"namespace": "device", "action": "create", "params": {"name": "fz-j", "vendor": "v"}}


def templates(instance: str) -> list[Template]:
    """A normal request of each kind the doors take, with the places the fuzzer may spoil."""
    scripts = "/v1.1/instances/{instance}/snippets/scripts"
    here = {"instance": instance}
    return [
        # The service door.
        Template("POST", "/rest/instance/device", {
            "name": "fz-d", "vendor": "v", "port": 22, "ip_address": "10.1.1.1",
            "properties": {"rack": "A"}}),
        Template("POST", "/rest/instance/pool", {
            "name": "fz-p", "device_vendor": "a", "device_vendor_match": "regex",
            "device_vendor_invert": False, "filters": {"name": {"value": "r", "match": "regex"}},
            "devices": ["r1"], "manually_defined": False}),
        Template("POST", "/rest/instance/device", [{"name": "fz-l", "port": "23"}, {"name": "x"}]),
        Template("POST", "/rest/instance/service", {
            "name": "fz-s", "type": "python_snippet_service", "source_code": "x = 1",
            "timeout": 10, "max_processes": 5, "number_of_retries": 0,
            "time_between_retries": 1, "initial_payload": {"a": 1}, "devices": ["r1"]}),
        Template("POST", "/rest/run_service", {
            "name": "svc", "devices": ["r1"], "pools": ["vendors"], "ip_addresses": [],
            "async": True, "ignore_invalid_targets": False, "aid": "1-2"}),
        Template("POST", "/rest/search", {
            "type": "device", "columns": ["name", "vendor"],
            "search_criteria": {"vendor": "^a+!$", "vendor_filter": "regex",
                                "vendor_invert": False},
            "order": [{"column": 0, "dir": "asc"}], "start": 0, "maximum_return_records": 10}),
        Template("GET", "/rest/instance/{type}/{name}", segments={"type": "pool",
                                                                  "name": "vendors"}),
        Template("GET", "/rest/query/device", query={"vendor": "a", "name": "r1"}),
        Template("GET", "/rest/logs/{runtime}", query={"offset": "0", "limit": "10"},
                 segments={"runtime": "2020-01-01 00:00:00.000000"}),
        Template("GET", "/rest/result/{service}/{runtime}",
                 segments={"service": "svc", "runtime": "x"}),
        # The batch door.
        Template("POST", "/api/1.0/batch", {"jobs": [JOB, {**JOB, "action": "get"}],
                                            "callbackUrl": CALLBACK}, query={"action": "run"}),
        Template("POST", "/api/1.0/batch", {"async": "0" * 32}, query={"action": "progress"}),
        Template("POST", "/api/1.0/batch", {"async": "0" * 32, "asyncId": "1"},
                 query={"action": "results"}),
        Template("POST", "/api/1.0/batch", {"async": "0" * 32}, query={"action": "repost"}),
        # The script door.
        Template("POST", "/v1.1/instances/", {"name": "fz-i", "description": "d",
                                              "config": {"timeout": 10}}),
        Template("PATCH", "/v1.1/instances/{instance}/", {
            "description": "d", "metadata": {"m": 1}, "config": {"timeout": 10}}, segments=here),
        Template("POST", scripts + "/", {
            "label": "l", "runtime_name": "python3", "source": "print(1)",
            "config": {"timeout": 10}}, segments=here),
        Template("PATCH", scripts + "/{script}/", {"config": {"timeout": 10}, "label": "l"},
                 segments={**here, "script": "1"}),
        Template("POST", scripts + "/{script}/run/", {"payload": {"k": ["v"]}},
                 segments={**here, "script": "1"}),
        Template("GET", scripts + "/", query={"page_size": "10", "last_pk": "1",
                                              "ordering": "desc", "direction": "1"},
                 segments=here),
        Template("GET", scripts + "/{script}/traces/{trace}/",
                 segments={**here, "script": "1", "trace": "1"}),
        Template("PUT", "/v1.1/instances/{instance}/snippets/config/",
                 {"config": {"timeout": 10, "k": "v"}}, segments=here),
        Template("POST", "/v1.1/instances/{instance}/endpoints/scripts/",
                 {"name": "fz-e", "script": 1, "public": False}, segments=here),
        Template("POST", "/v1.1/instances/{instance}/endpoints/scripts/{name}/run/",
                 {"k": "v"}, query={"q": "1"}, segments={**here, "name": "echo"}),
    ]


def fuzz_template(client: httpx.Client, template: Template, tally: Tally,
                  problems: list[str]) -> None:
    @given(request=hostile_requests(template))
    @fuzz_settings(hostile_examples())
    def fuzz(request: Request) -> None:
        response = client.request(request.method, request.url, content=request.body,
                                  headers={"Content-Type": "application/json"})
        problem = httpx_problem(response)
        tally.count(response.status_code, problem)
        if problem is not None and len(problems) < PROBLEMS_SHOWN:
            problems.append(f"{problem}: {request.method} {request.url[:200]} "
                            f"body={(request.body or b'')[:200]!r} -> {response.text[:200]!r}")

    fuzz()


@pytest.mark.slow
def test_hostile_inputs_answer_in_their_envelope(
    fuzz_target: FuzzTarget, record_property: Any
) -> None:
    tally = Tally("hostile", fuzz_target.database, hostile_examples())
    problems: list[str] = []
    kinds = templates(fuzz_target.instance)
    for key in fuzz_target.callers().values():
        with httpx.Client(base_url=fuzz_target.base_url, timeout=REQUEST_TIMEOUT,
                          headers=fuzz_target.headers(key)) as client:
            for template in kinds:
                fuzz_template(client, template, tally, problems)
    record_property(PROPERTY, tally.as_record())
    still_answers(fuzz_target)
    assert tally.inputs_tried >= 2 * len(kinds) * min(hostile_examples(), 5)
    assert not problems, "\n".join(problems)
