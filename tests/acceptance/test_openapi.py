"""The API describes itself (/openapi.json, /docs). Schemathesis fuzzes every operation of
that document in tests/fuzz/test_schemathesis.py."""

from __future__ import annotations

import httpx

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

