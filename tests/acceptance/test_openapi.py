"""The API describes itself (/openapi.json, /docs), and no generated request breaks it.

Schemathesis generates requests from the server's own OpenAPI document and sends them to a
real server process: whatever it sends, the answer must never be a 5xx.
"""

from __future__ import annotations

from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.support.server import ServerProcess


def test_openapi_document_and_docs_are_served(shared_server: ServerProcess) -> None:
    document = httpx.get(f"{shared_server.base_url}/openapi.json").json()
    paths = set(document["paths"])
    assert "/v1.1/instances/{instance}/snippets/scripts/{script_id}/run/" in paths
    assert "/rest/run_service" in paths
    assert "/api/1.0/batch" in paths
    docs = httpx.get(f"{shared_server.base_url}/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    health = httpx.get(f"{shared_server.base_url}/healthz").json()
    assert health["status"] == "ok"


def test_generated_requests_never_get_a_server_error(shared_server: ServerProcess) -> None:
    schema = schemathesis.openapi.from_url(f"{shared_server.base_url}/openapi.json")
    headers = {"X-API-KEY": shared_server.admin_key or ""}
    checked = 0
    for loaded in schema.get_all_operations():
        operation = loaded.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def never_a_server_error(case: Any) -> None:
            response = case.call(base_url=shared_server.base_url, headers=headers, timeout=30)
            assert response.status_code < 500, (
                case.method, case.formatted_path, response.status_code, response.text[:300]
            )

        never_a_server_error()
        checked += 1
    assert checked >= 20  # every door's operations were exercised
