"""Text the store cannot keep, and shapes the parser cannot hold, are refused at every door
with a 400 in that door's envelope, before anything is stored; the server goes on answering.
(Issue 14's first cases: before, the service door answered 500 to lone surrogates and deep
nesting, the batch door a plain-text 500, and a batch with a surrogate was accepted.)"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.batch_door import BATCH, error_of
from tests.support.server import ServerProcess

SURROGATE = b'"a\\ud800"'  # a lone surrogate, as a JSON escape (valid JSON, invalid text)
DEEP = b"[" * 100_000 + b"]" * 100_000
BAD_BODY = 24001
PROGRESS_NOT_FOUND = 24105


@pytest.fixture
def client(shared_server: ServerProcess, instance: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared_server.base_url, timeout=60,
                      auth=("admin", shared_server.admin_key or ""),
                      headers={"X-RUNPLANE-INSTANCE": instance,
                               "Content-Type": "application/json"}) as http:
        yield http


def alert_400(answer: httpx.Response) -> str:
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert set(body) == {"alert"} and body["alert"].startswith("Error 400 - "), body
    return str(body["alert"])


@pytest.mark.parametrize("path", ["/rest/instance/device", "/rest/instance/pool",
                                  "/rest/instance/service", "/rest/run_service",
                                  "/rest/search"])
def test_the_service_door_refuses_a_lone_surrogate(client: httpx.Client, path: str) -> None:
    answer = client.post(path, content=b'{"name": ' + SURROGATE + b', "type": "device"}')
    assert "surrogate" in alert_400(answer)
    # Nothing was stored under the name it could keep either.
    assert client.get("/rest/instance/device/a").status_code == 404


def test_the_service_door_refuses_deep_nesting(client: httpx.Client) -> None:
    assert "nesting too deep" in alert_400(client.post("/rest/instance/device", content=DEEP))
    assert client.get("/rest/is_alive").status_code == 200


def test_a_regex_whose_repetition_overflows_is_a_400(client: httpx.Client) -> None:
    answer = client.post("/rest/instance/pool", json={
        "name": "huge", "device_vendor": "a{99999999999}", "device_vendor_match": "regex"})
    assert "Invalid regular expression" in alert_400(answer)
    assert client.get("/rest/instance/pool/huge").status_code == 404


@pytest.mark.parametrize("flag", ["async", "ignore_invalid_targets"])
def test_run_service_refuses_a_flag_that_is_not_a_boolean(client: httpx.Client, flag: str
                                                          ) -> None:
    """"yes please" used to run synchronously; it is refused, not guessed."""
    answer = client.post("/rest/run_service", json={"name": "any", flag: "yes please"})
    assert alert_400(answer).endswith(f"{flag}: Must be a boolean.")


@pytest.mark.parametrize("body", [
    b'{"jobs": [{"namespace": "device", "action": "create", "params": {"name": '
    + SURROGATE + b'}}]}',
    b'{"async": ' + SURROGATE + b"}",
    b'{"jobs": [], "callbackUrl": ' + SURROGATE + b"}",
])
def test_the_batch_door_refuses_a_lone_surrogate_before_storing_a_batch(
    client: httpx.Client, body: bytes
) -> None:
    for action in ("run", "progress"):
        answer = client.post(BATCH, params={"action": action}, content=body)
        assert "surrogate" in error_of(answer, 400, BAD_BODY)["message"]


def test_the_batch_door_refuses_deep_nesting_in_its_envelope(client: httpx.Client) -> None:
    answer = client.post(BATCH, params={"action": "run"}, content=DEEP)
    assert "nesting too deep" in error_of(answer, 400, BAD_BODY)["message"]
    # The same keep-alive connection still answers (no batch named: not found).
    error_of(client.post(BATCH, params={"action": "progress"}, json={}), 404, PROGRESS_NOT_FOUND)


@pytest.mark.parametrize("path", ["/rest/instance/device/a%00b", "/rest/instance/pool/a%00b",
                                  "/rest/result/any/a%00b"])
def test_a_name_with_nul_is_not_a_500(client: httpx.Client, module_database_url: str,
                                      path: str) -> None:
    """SQLite can look such a name up (none exists: 404); PostgreSQL's text cannot hold NUL,
    and its refusal is the caller's 400, not the server's 500."""
    answer = client.get(path)
    if module_database_url.startswith("sqlite"):
        assert answer.status_code == 404, answer.text
    else:
        assert alert_400(answer).endswith("value: Null characters are not allowed.")


def test_the_batch_door_answers_a_nul_in_its_envelope(client: httpx.Client,
                                                      module_database_url: str) -> None:
    answer = client.post(BATCH, params={"action": "progress"}, json={"async": "a\u0000b"})
    if module_database_url.startswith("sqlite"):
        error_of(answer, 404, PROGRESS_NOT_FOUND)
    else:
        body = error_of(answer, 400, 24203)
        assert body["additionalMessages"] == ["value: Null characters are not allowed."]
