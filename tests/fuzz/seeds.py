"""The fuzzed instance's contents: one of each kind, so generated requests sometimes name
something that exists, and four devices on which `(a+)+$` backtracks exponentially in
Python's `re` (issue 14's stall), so a regex pool or search has real text to run over."""

from __future__ import annotations

import uuid

import httpx

from tests.support.batch_door import BATCH, error_of
from tests.support.script_door import create_instance, create_script, scripts_path

REDOS_VENDOR = "a" * 25 + "!"
SCRIPT = "print(ARGS)"
SNIPPET = 'results["success"] = True'


def _ok(answer: httpx.Response) -> None:
    assert answer.status_code in (200, 201), answer.text


def seed_instance(admin: httpx.Client, instance: str) -> None:
    """`admin` carries the account key and X-RUNPLANE-INSTANCE: instance."""
    create_instance(admin, instance)
    script = create_script(admin, instance, SCRIPT)
    _ok(admin.post(f"/v1.1/instances/{instance}/endpoints/scripts/",
                   json={"name": "echo", "script": script}))
    _ok(admin.post("/rest/instance/device", json=[
        {"name": f"r{number}", "vendor": REDOS_VENDOR, "ip_address": f"10.0.0.{number}"}
        for number in range(1, 5)
    ]))
    _ok(admin.post("/rest/instance/pool", json={"name": "vendors", "device_vendor": "a",
                                                "device_vendor_match": "inclusion"}))
    _ok(admin.post("/rest/instance/service", json={
        "name": "svc", "type": "python_snippet_service", "source_code": SNIPPET}))


def assert_normal_requests_answer(admin: httpx.Client, instance: str) -> None:
    """A normal request of each door gets its normal answer (on objects of its own, which
    the fuzzer cannot have deleted)."""
    fresh = uuid.uuid4().hex[:8]
    script = create_script(admin, instance, SCRIPT, label=fresh)
    found = admin.get(f"{scripts_path(instance)}{script}/")
    assert found.status_code == 200 and found.json()["label"] == fresh, found.text
    _ok(admin.post("/rest/instance/device", json={"name": fresh, "vendor": REDOS_VENDOR}))
    device = admin.get(f"/rest/instance/device/{fresh}")
    assert device.status_code == 200 and device.json()["vendor"] == REDOS_VENDOR, device.text
    _ok(admin.post("/rest/instance/service", json={
        "name": fresh, "type": "python_snippet_service", "source_code": SNIPPET}))
    run = admin.post("/rest/run_service", json={"name": fresh, "devices": [fresh],
                                                "async": True})
    assert run.status_code == 200 and run.json()["runtime"], run.text
    error_of(admin.post(BATCH, params={"action": "progress"}, json={"async": "0" * 32}),
             404, 24105)
