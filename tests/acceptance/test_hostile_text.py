"""Text the store cannot keep is refused at every door with a 400 in that door's envelope,
before anything is stored; the server goes on answering. NUL is kept by SQLite and refused
by PostgreSQL's text, so its answers depend on the database: they are here. Issue 14's
reported cases (lone surrogates, deep nesting, regex overflow, non-boolean flags) are the
data-driven corpus of test_hostile_corpus.py."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.batch_door import BATCH, error_of
from tests.support.server import ServerProcess

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


NOT_AUTHORIZED = (403, {"alert": "Error 403 - Not Authorized."})
NO_RESULTS = (200, {"error": "There are no results or on-going services for the requested "
                             "service and runtime."})


@pytest.mark.parametrize(("path", "unknown"), [
    ("/rest/instance/device/a%00b", NOT_AUTHORIZED),
    ("/rest/instance/pool/a%00b", NOT_AUTHORIZED),
    ("/rest/result/any/a%00b", NO_RESULTS),
])
def test_a_name_with_nul_is_not_a_500(client: httpx.Client, module_database_url: str,
                                      path: str, unknown: tuple[int, dict[str, str]]) -> None:
    """SQLite can look such a name up (none exists: eNMS's answer for an unknown object);
    PostgreSQL's text cannot hold NUL, and its refusal is the caller's 400, not a 500."""
    answer = client.get(path)
    if module_database_url.startswith("sqlite"):
        assert (answer.status_code, answer.json()) == unknown, answer.text
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
