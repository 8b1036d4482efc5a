"""Small client-side helpers for talking to the script door (Syncano API v1.1) in tests."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from tests.support.polling import wait_for_trace

INSTANCES = "/v1.1/instances/"
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def unique_name(prefix: str = "inst") -> str:
    """An instance name no other test of a shared server uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def scripts_path(instance: str) -> str:
    return f"{INSTANCES}{instance}/snippets/scripts/"


def script_path(instance: str, script_id: int) -> str:
    return f"{scripts_path(instance)}{script_id}/"


def create_instance(client: httpx.Client, name: str | None = None, **fields: Any) -> str:
    name = name or unique_name()
    response = client.post(INSTANCES, json={"name": name, **fields})
    assert response.status_code == 201, response.text
    return name


def create_script(
    client: httpx.Client,
    instance: str,
    source: str,
    *,
    runtime_name: str = "python3",
    label: str = "test script",
    config: dict[str, Any] | None = None,
) -> int:
    body: dict[str, Any] = {"label": label, "runtime_name": runtime_name, "source": source}
    if config is not None:
        body["config"] = config
    response = client.post(scripts_path(instance), json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def start_run(
    client: httpx.Client, instance: str, script_id: int, body: Any = None
) -> dict[str, Any]:
    """POST .../run/ and answer the pending trace (asserting the 200 of the seed)."""
    response = client.post(
        f"{script_path(instance, script_id)}run/", json={"payload": {}} if body is None else body
    )
    assert response.status_code == 200, response.text
    trace: dict[str, Any] = response.json()
    assert trace["status"] == "pending", trace
    return trace


def run_and_wait(
    client: httpx.Client,
    instance: str,
    script_id: int,
    body: Any = None,
    *,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Run a script and answer its finished trace."""
    pending = start_run(client, instance, script_id, body)
    return wait_for_trace(client, pending["links"]["self"], timeout=timeout)


def stdout_json(trace: dict[str, Any]) -> Any:
    """A trace's stdout read as the one JSON document the script printed."""
    assert trace["status"] == "success", trace
    return json.loads(trace["result"]["stdout"])
