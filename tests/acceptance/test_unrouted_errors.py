"""A path or method no route takes is answered in the envelope of the door the path belongs
to (found by the fuzzer: `/rest/instance/pool/a%2Fb` answered Starlette's
`{"detail": "Not Found"}` to an eNMS client, `/api/1.0/event` the same to an iVvy one)."""

from __future__ import annotations

import httpx
import pytest

from tests.support.batch_door import error_of
from tests.support.server import ServerProcess


@pytest.fixture
def client(shared_server: ServerProcess) -> httpx.Client:
    return shared_server.client()


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/rest/instance/pool/a%2Fb", 404),  # the slash splits the name: no route
    ("GET", "/rest/nothing", 404),
    ("PUT", "/rest/run_service", 405),
])
def test_the_service_door_answers_unrouted_requests_with_an_alert(
    client: httpx.Client, method: str, path: str, status: int
) -> None:
    answer = client.request(method, path)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"alert"} and body["alert"].startswith(f"Error {status} - "), body
    if status == 405:
        assert "POST" in answer.headers["allow"]


@pytest.mark.parametrize(("method", "path", "status"), [
    ("POST", "/api/1.0/event", 404), ("DELETE", "/api/1.0/batch", 405),
])
def test_the_batch_door_answers_unrouted_requests_in_its_envelope(
    client: httpx.Client, method: str, path: str, status: int
) -> None:
    error_of(client.request(method, path, params={"action": "run"}), status, 24002)


def test_the_script_door_keeps_its_detail(client: httpx.Client) -> None:
    answer = client.get("/v1.1/nothing/")
    assert answer.status_code == 404 and answer.json() == {"detail": "Not Found"}
