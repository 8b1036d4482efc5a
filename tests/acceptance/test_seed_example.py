"""The seed's "Script - run" page (seeds/002), replayed with the real curl against runplane.

The curl command is the seed's own text; only its placeholders (API_KEY, INSTANCE_NAME,
SCRIPT_ID and Syncano's host) are filled in. Flags appended after it (`-s -S -w ...`) only
change what curl prints, so the test can read the status code; the request is the seed's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime
from typing import Any

import pytest

from tests.support.polling import wait_for_trace
from tests.support.script_door import TIMESTAMP_FORMAT, create_instance, create_script
from tests.support.server import ServerProcess

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl binary")

# Verbatim from seeds/002_8aa51f2338c4af3a.txt (examples.codes[0]).
SEED_CURL = (
    'curl -X POST \\\n'
    '-H "X-API-KEY: API_KEY" \\\n'
    '-H "Content-Type: application/json" \\\n'
    "-d '{\"payload\":{\"KEY\":\"VALUE\"}}' \\\n"
    '"https://api.syncano.io/v1.1/instances/INSTANCE_NAME/snippets/scripts/SCRIPT_ID/run/"'
)
# The seed's 200 answer, for a first trace (the seed shows trace 3 of its script).
SEED_ANSWER = {
    "status": "pending",
    "links": {"self": "/v1.1/instances/rivia/snippets/scripts/1/traces/1/"},
    "executed_at": None,
    "result": {},
    "duration": None,
    "id": 1,
}
STATUS_MARK = "\nHTTP_STATUS:"


def seed_curl(server: ServerProcess, *, key: str, instance: str, script_id: str) -> str:
    command = (
        SEED_CURL.replace("API_KEY", key)
        .replace("INSTANCE_NAME", instance)
        .replace("SCRIPT_ID", script_id)
        .replace("https://api.syncano.io", server.base_url)
    )
    assert command.count(server.base_url) == 1
    return command


def run_curl(command: str) -> tuple[int, Any]:
    """Run a curl command line through the shell, as a user pasting it would; (status, JSON)."""
    completed = subprocess.run(
        ["/bin/sh", "-c", f"{command} -s -S -w '{STATUS_MARK}%{{http_code}}'"],
        capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    body, _, status = completed.stdout.rpartition(STATUS_MARK)
    return int(status), json.loads(body)


@pytest.fixture(scope="module")
def rivia(shared_server: ServerProcess) -> ServerProcess:
    """The shared server with instance "rivia" and its script 1 (no test here adds another)."""
    with shared_server.client() as client:
        create_instance(client, "rivia")
        assert create_script(client, "rivia", 'print("got", ARGS["KEY"])') == 1
    return shared_server


def test_seed_curl_runs_a_script_and_its_trace_finishes(rivia: ServerProcess) -> None:
    # The error cases below are refused before a run is made, so this is trace 1 in any order.
    assert rivia.admin_key is not None
    status, answer = run_curl(
        seed_curl(rivia, key=rivia.admin_key, instance="rivia", script_id="1")
    )
    assert status == 200
    assert answer == SEED_ANSWER

    with rivia.client() as client:
        trace = wait_for_trace(client, answer["links"]["self"])
    assert trace["status"] == "success", trace
    assert trace["id"] == 1
    assert trace["result"] == {"stdout": "got VALUE", "stderr": ""}
    datetime.strptime(trace["executed_at"], TIMESTAMP_FORMAT)  # raises if the format differs
    assert type(trace["duration"]) is int and trace["duration"] >= 0
    assert trace["links"] == SEED_ANSWER["links"]


@pytest.mark.parametrize(
    ("case", "expected_status", "expected_body"),
    [
        ("bad-json", 400, None),
        ("unknown-key", 403, {"detail": "No such API Key."}),
        ("unknown-instance", 404, {"detail": "Instance was not found."}),
    ],
)
def test_seed_curl_error_answers(
    rivia: ServerProcess, case: str, expected_status: int, expected_body: Any
) -> None:
    """The seed's three documented error answers, produced by the same curl command."""
    assert rivia.admin_key is not None
    key = rivia.admin_key
    command = seed_curl(rivia, key=key, instance="rivia", script_id="1")
    if case == "bad-json":
        command = command.replace('{"payload":{"KEY":"VALUE"}}', '{"payload":{"KEY":')
    elif case == "unknown-key":
        command = command.replace(key, "0" * 40)
    else:
        command = command.replace("/instances/rivia/", "/instances/kaer-morhen/")

    status, answer = run_curl(command)

    assert status == expected_status, answer
    if expected_body is None:
        assert set(answer) == {"detail"}
        assert answer["detail"].startswith("JSON parse error - ")
    else:
        assert answer == expected_body
