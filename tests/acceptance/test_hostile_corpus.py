"""Issue 14's reported hostile inputs stay fixed: each case of hostile_corpus.json is a fixed
request with its expected status and answer, in its door's envelope (see the file's `about`).
The fuzzer (tests/fuzz/) explores around these; this corpus pins them down."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.envelopes import door_of, envelope_problem
from tests.support.server import ServerProcess

CORPUS = Path(__file__).with_name("hostile_corpus.json")
# On which `(a+)+$` backtracked exponentially in Python's re (issue 14's 10 s stall).
REDOS_VENDOR = "a" * 25 + "!"
DEPTH = 100_000
DEEP = {"array": b"[" * DEPTH + b"]" * DEPTH,
        "object": b'{"a":' * DEPTH + b"1" + b"}" * DEPTH}


def load_cases() -> list[Any]:
    """One pytest param per request: a case with `each` once per value."""
    params = []
    for case in json.loads(CORPUS.read_text())["cases"]:
        for value in case.get("each", [None]):
            sent = dict(case)
            if value is not None:
                sent["body"] = case["body"].replace("{V}", value)
            case_id = case["id"] if value is None else f"{case['id']}={value}"
            params.append(pytest.param(sent, id=case_id))
    return params


@pytest.fixture
def client(shared_server: ServerProcess, instance: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared_server.base_url, timeout=60,
                      headers={"X-API-KEY": shared_server.admin_key or "",
                               "X-RUNPLANE-INSTANCE": instance,
                               "Content-Type": "application/json"}) as http:
        answer = http.post("/rest/instance/device", json=[
            {"name": f"r{number}", "vendor": REDOS_VENDOR} for number in range(1, 5)])
        assert answer.status_code == 200 and "failure" not in answer.json(), answer.text
        yield http


def message_of(path: str, body: Any) -> str:
    """The error's words, whatever its door's envelope calls them."""
    match door_of(path):
        case "service":
            return str(body["alert"])
        case "batch":
            return " ".join([body["message"], *body["additionalMessages"]])
    if "detail" in body:
        return str(body["detail"])
    return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in body.items())


def send(client: httpx.Client, request: dict[str, Any], instance: str) -> httpx.Response:
    body = DEEP[request["deep"]] if "deep" in request else request.get("body", "").encode()
    return client.request(request["method"], request["path"].format(instance=instance),
                          params=request.get("query"), content=body or None)


def check(answer: httpx.Response, expected: dict[str, Any]) -> None:
    path = answer.request.url.path
    assert answer.status_code == expected["status"], answer.text
    assert answer.headers["content-type"].startswith("application/json"), answer.headers
    body = answer.json()
    if answer.status_code >= 400:
        assert envelope_problem(path, answer.status_code, body) is None, body
        message = message_of(path, body)
        assert expected.get("says", "") in message, message
        assert message.endswith(expected.get("ends", "")), message
        if "code" in expected:
            assert body["specificCode"] == expected["code"], body
    if "json" in expected:
        assert body == expected["json"]
    for name, value in expected.get("fields", {}).items():
        assert body[name] == value, body


@pytest.mark.parametrize("case", load_cases())
def test_a_reported_hostile_input_stays_fixed(client: httpx.Client, instance: str,
                                              case: dict[str, Any]) -> None:
    check(send(client, case, instance), case)
    if "then" in case:  # on the same keep-alive connection
        check(send(client, case["then"], instance), case["then"])
