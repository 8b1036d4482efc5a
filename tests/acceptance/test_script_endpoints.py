"""Script endpoints (Syncano's script webhooks): synchronous runs that answer the finished
trace, public links, and the 408 when a script outlasts the wait.

The shared server waits RUNPLANE_ENDPOINT_WAIT_SECONDS=3 before answering 408.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.support.polling import wait_for_trace
from tests.support.script_door import (
    INSTANCES,
    TIMESTAMP_FORMAT,
    create_instance,
    create_script,
    script_path,
)
from tests.support.server import ServerProcess

PRINT_ALL = "import json\nprint(json.dumps({'args': ARGS, 'meta': META}))"
ENDPOINT_WAIT_SECONDS = 3


@pytest.fixture
def client(shared_server: ServerProcess) -> Iterator[httpx.Client]:
    with shared_server.client() as http:
        yield http


@pytest.fixture
def instance(client: httpx.Client) -> str:
    return create_instance(client)


def endpoints_path(instance: str) -> str:
    return f"{INSTANCES}{instance}/endpoints/scripts/"


def create_endpoint(
    client: httpx.Client, instance: str, name: str, script_id: int, *, public: bool = True
) -> dict[str, Any]:
    response = client.post(
        endpoints_path(instance), json={"name": name, "script": script_id, "public": public}
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def printed(answer: httpx.Response) -> dict[str, Any]:
    """The JSON a PRINT_ALL script printed, from a finished endpoint answer."""
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "success", body
    return json.loads(body["result"]["stdout"])  # type: ignore[no-any-return]


@pytest.fixture
def hook(client: httpx.Client, instance: str) -> dict[str, Any]:
    """A public endpoint "hook" on a script that prints ARGS and META."""
    script_id = create_script(client, instance, PRINT_ALL)
    endpoint = create_endpoint(client, instance, "hook", script_id)
    return {"instance": instance, "script_id": script_id, **endpoint}


def test_create_endpoint(client: httpx.Client, instance: str) -> None:
    script_id = create_script(client, instance, PRINT_ALL)
    endpoint = create_endpoint(client, instance, "My-Hook", script_id)
    base = f"{endpoints_path(instance)}my-hook/"
    assert endpoint["name"] == "my-hook"  # lowercased, as Syncano did
    assert endpoint["script"] == script_id
    assert "codebox" not in endpoint  # v1.1 calls it "script"
    assert endpoint["public"] is True
    assert len(endpoint["public_link"]) >= 20
    assert endpoint["links"]["self"] == base
    assert endpoint["links"]["public-link"] == (
        f"{endpoints_path(instance)}p/{endpoint['public_link']}/my-hook/"
    )
    assert client.get(base).json() == endpoint
    listed = client.get(endpoints_path(instance)).json()
    assert [item["name"] for item in listed["objects"]] == ["my-hook"]

    unknown_script = client.post(
        endpoints_path(instance), json={"name": "other", "script": 999, "public": True}
    )
    assert unknown_script.status_code == 400
    assert list(unknown_script.json()) == ["script"]


def test_run_with_post_answers_the_finished_trace(
    client: httpx.Client, hook: dict[str, Any]
) -> None:
    instance = hook["instance"]
    answer = client.post(
        f"{endpoints_path(instance)}hook/run/",
        params={"b": "from-query", "c": "3"},
        json={"a": 1, "b": "from-body"},
    )
    body = answer.json()
    assert answer.status_code == 200, body
    assert answer.headers["content-type"].startswith("application/json")
    assert set(body) == {"status", "executed_at", "result", "duration", "id"}  # no links
    assert body["status"] == "success"
    datetime.strptime(body["executed_at"], TIMESTAMP_FORMAT)
    assert type(body["duration"]) is int
    assert body["result"]["stderr"] == ""
    seen = printed(answer)
    # ARGS: the body merged with the query string; the query string wins.
    assert seen["args"] == {"a": 1, "b": "from-query", "c": "3"}
    assert seen["meta"]["executed_by"] == "webhook"
    assert seen["meta"]["instance"] == instance
    assert seen["meta"]["executor"] == "hook"
    request_meta = seen["meta"]["request"]
    assert request_meta["REQUEST_METHOD"] == "POST"
    assert "HTTP_X_API_KEY" not in request_meta  # the key is never shown to the script

    # The run is also a trace of the script, which the async door can read.
    trace = client.get(f"{script_path(instance, hook['script_id'])}traces/{body['id']}/")
    assert trace.status_code == 200
    assert {k: v for k, v in trace.json().items() if k != "links"} == body


def test_run_with_get_and_query_args(client: httpx.Client, hook: dict[str, Any]) -> None:
    answer = client.get(
        f"{endpoints_path(hook['instance'])}hook/run/", params={"x": "1", "y": "two"}
    )
    seen = printed(answer)
    assert seen["args"] == {"x": "1", "y": "two"}
    assert seen["meta"]["request"]["REQUEST_METHOD"] == "GET"


def test_api_key_in_query_is_not_an_arg(
    shared_server: ServerProcess, hook: dict[str, Any]
) -> None:
    assert shared_server.admin_key is not None
    with httpx.Client(base_url=shared_server.base_url, timeout=60) as http:
        answer = http.post(
            f"{endpoints_path(hook['instance'])}hook/run/",
            params={"api_key": shared_server.admin_key, "q": "1"}, json={"p": 2},
        )
    assert printed(answer)["args"] == {"p": 2, "q": "1"}


def test_run_needs_a_key_and_a_known_endpoint(
    shared_server: ServerProcess, client: httpx.Client, hook: dict[str, Any]
) -> None:
    base = endpoints_path(hook["instance"])
    with httpx.Client(base_url=shared_server.base_url, timeout=60) as http:
        assert http.post(f"{base}hook/run/", json={}).status_code == 403
    missing = client.post(f"{base}nope/run/", json={})
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not found."}


def test_public_link_runs_without_a_key(
    shared_server: ServerProcess, hook: dict[str, Any]
) -> None:
    public = hook["links"]["public-link"]
    wrong = public.replace(hook["public_link"], "0" * 40)
    with httpx.Client(base_url=shared_server.base_url, timeout=60) as http:
        posted = http.post(public, params={"q": "x"}, json={"k": "v"})
        seen = printed(posted)
        assert seen["args"] == {"k": "v", "q": "x"}
        assert seen["meta"]["executed_by"] == "webhook"
        assert printed(http.get(public, params={"g": "1"}))["args"] == {"g": "1"}

        refused = http.post(wrong, json={})
        assert refused.status_code == 404
        assert refused.json() == {"detail": "Not found."}
        wrong_name = http.post(public.replace("/hook/", "/other/"), json={})
        assert wrong_name.status_code == 404


def test_private_endpoint_has_no_public_link(
    shared_server: ServerProcess, client: httpx.Client, instance: str
) -> None:
    script_id = create_script(client, instance, PRINT_ALL)
    private = create_endpoint(client, instance, "private", script_id, public=False)
    assert "public-link" not in private["links"]
    link = f"{endpoints_path(instance)}p/{private['public_link']}/private/"
    with httpx.Client(base_url=shared_server.base_url, timeout=60) as http:
        assert http.post(link, json={}).status_code == 404
    assert printed(client.post(f"{endpoints_path(instance)}private/run/", json={}))["args"] == {}


def test_reset_link_changes_the_public_link(
    shared_server: ServerProcess, client: httpx.Client, hook: dict[str, Any]
) -> None:
    base = f"{endpoints_path(hook['instance'])}hook/"
    old_link = hook["links"]["public-link"]
    reset = client.post(f"{base}reset_link/")
    assert reset.status_code == 200, reset.text
    renewed = reset.json()
    assert renewed["public_link"] != hook["public_link"]
    assert renewed["links"]["public-link"] != old_link
    assert client.get(base).json()["public_link"] == renewed["public_link"]
    with httpx.Client(base_url=shared_server.base_url, timeout=60) as http:
        stale = http.post(old_link, json={})
        assert stale.status_code == 404
        assert stale.json() == {"detail": "Not found."}
        assert printed(http.post(renewed["links"]["public-link"], json={"n": 1}))["args"] == {
            "n": 1
        }


def test_failed_script_answers_200_with_failure(client: httpx.Client, instance: str) -> None:
    script_id = create_script(client, instance, "raise SystemExit(2)")
    create_endpoint(client, instance, "broken", script_id)
    answer = client.post(f"{endpoints_path(instance)}broken/run/", json={})
    assert answer.status_code == 200
    assert answer.json()["status"] == "failure"


def test_bad_endpoint_payload_is_400(client: httpx.Client, hook: dict[str, Any]) -> None:
    path = f"{endpoints_path(hook['instance'])}hook/run/"
    for raw in (b"42", b'"text"'):
        answer = client.post(path, content=raw, headers={"Content-Type": "application/json"})
        assert answer.status_code == 400, raw
    malformed = client.post(path, content=b"{x", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400
    assert malformed.json()["detail"].startswith("JSON parse error - ")
    too_big = client.post(path, json={"blob": "x" * (512 * 1024)})
    assert too_big.status_code == 413
    assert too_big.json() == {"detail": "Request size limit exceeded (524288)."}


def test_slow_script_answers_408_and_keeps_running(
    client: httpx.Client, instance: str
) -> None:
    script_id = create_script(client, instance, "import time\ntime.sleep(6)\nprint('late')")
    create_endpoint(client, instance, "slow", script_id)
    started = time.monotonic()
    answer = client.post(f"{endpoints_path(instance)}slow/run/", json={})
    waited = time.monotonic() - started
    assert answer.status_code == 408, answer.text
    body = answer.json()
    assert body["detail"] == "Script took too much time."
    assert ENDPOINT_WAIT_SECONDS - 0.5 <= waited < ENDPOINT_WAIT_SECONDS + 5
    # Where to find the run when it ends: the script's trace.
    trace_link = body["links"]["self"]
    assert trace_link == f"{script_path(instance, script_id)}traces/{body['id']}/"
    assert client.get(trace_link).json()["status"] in ("pending", "processing")
    finished = wait_for_trace(client, trace_link, timeout=30)
    assert finished["status"] == "success"
    assert finished["result"]["stdout"] == "late"
