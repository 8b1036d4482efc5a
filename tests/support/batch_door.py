"""Client-side helpers for the batch door (iVvy API 1.0) in acceptance tests."""

from __future__ import annotations

import time
from typing import Any

import httpx

BATCH = "/api/1.0/batch"
# Short callback retries, so delivery tests take seconds.
FAST_CALLBACKS = {
    "RUNPLANE_CALLBACK_FIRST_DELAY": "0.05",
    "RUNPLANE_CALLBACK_MAX_DELAY": "0.3",
    "RUNPLANE_CALLBACK_POLL_INTERVAL": "0.05",
    "RUNPLANE_CALLBACK_TIMEOUT": "3",
    "RUNPLANE_POLL_INTERVAL": "0.1",
}


def call(client: httpx.Client, action: str, body: Any = None, **params: str) -> httpx.Response:
    return client.post(BATCH, params={"action": action, **params},
                       json={} if body is None else body)


def run_batch(client: httpx.Client, jobs: list[dict[str, Any]], callback: str,
              **params: str) -> str:
    answer = call(client, "run", {"jobs": jobs, "callbackUrl": callback}, **params)
    assert answer.status_code == 200, answer.text
    async_id = answer.json()["asyncId"]
    assert isinstance(async_id, str) and len(async_id) == 32
    int(async_id, 16)
    return str(async_id)


def progress(client: httpx.Client, async_id: str, **params: str) -> int:
    answer = call(client, "progress", {"async": async_id}, **params)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["progress"])


def wait_results(client: httpx.Client, async_id: str, timeout: float = 60, **params: str
                 ) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while progress(client, async_id, **params) < 100:
        assert time.monotonic() < deadline, f"batch {async_id} did not finish in {timeout} s"
        time.sleep(0.05)
    answer = call(client, "results", {"async": async_id}, **params)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def error_of(answer: httpx.Response, status: int, code: int) -> dict[str, Any]:
    """Assert iVvy's envelope with this status and specificCode; answer the envelope."""
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert set(body) == {"errorCode", "message", "specificCode", "additionalMessages"}, body
    assert (body["errorCode"], body["specificCode"]) == (status, code), body
    assert isinstance(body["message"], str) and body["message"]
    return body


def device_job(name: str, **fields: Any) -> dict[str, Any]:
    return {"namespace": "device", "action": "create", "params": {"name": name, **fields}}
