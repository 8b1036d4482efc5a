"""The request bodies the doors read raw are described in /openapi.json (for /docs and the
fuzzer), and the descriptions follow the code they describe."""

from __future__ import annotations

from typing import Any

from runplane.api.app import create_app
from runplane.api.batch_door.actions import NAMESPACES
from runplane.api.batch_door.routes import ACTIONS
from runplane.api.service_door.inventory import INSTANCE_TYPES
from runplane.settings import Settings


def document() -> dict[str, Any]:
    return create_app(Settings()).openapi()


def body_schema(doc: dict[str, Any], path: str, method: str = "post") -> dict[str, Any]:
    schema: dict[str, Any] = (
        doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    )
    return schema


def parameter(doc: dict[str, Any], path: str, method: str, name: str) -> dict[str, Any]:
    found = [item for item in doc["paths"][path][method]["parameters"] if item["name"] == name]
    assert len(found) == 1, found
    return found[0]  # type: ignore[no-any-return]


def test_the_service_door_bodies_are_described() -> None:
    doc = document()
    saved = body_schema(doc, "/rest/instance/{type}")
    titles = [item.get("title") for item in saved["anyOf"]]
    assert titles[:4] == ["Device", "Pool", "Credential", "Service"]
    assert saved["anyOf"][4]["type"] == "array"
    assert body_schema(doc, "/rest/search")["required"] == ["type"]
    run = body_schema(doc, "/rest/run_service")
    assert run["properties"]["async"]["type"] == "boolean" and run["required"] == ["name"]
    for path, method in (("/rest/instance/{type}", "post"),
                         ("/rest/instance/{type}/{name}", "get"), ("/rest/query/{type}", "get")):
        assert parameter(doc, path, method, "type")["schema"]["enum"] == list(INSTANCE_TYPES)


def test_the_batch_body_describes_every_job_the_registry_has() -> None:
    doc = document()
    for method in ("post", "get"):
        batch = body_schema(doc, "/api/1.0/batch", method)
        run, by_id = batch["anyOf"]
        jobs = run["properties"]["jobs"]["items"]["anyOf"]
        described = {(job["properties"]["namespace"]["enum"][0],
                      job["properties"]["action"]["enum"][0]) for job in jobs}
        assert described == {(namespace, action) for namespace, actions in NAMESPACES.items()
                             for action in actions}
        assert by_id["required"] == ["async"]
        assert parameter(doc, "/api/1.0/batch", method, "action")["schema"]["enum"] == list(
            ACTIONS)


def test_the_script_door_bodies_are_described() -> None:
    doc = document()
    scripts = "/v1.1/instances/{instance}/snippets/scripts/"
    assert body_schema(doc, scripts)["required"] == ["label", "runtime_name"]
    assert "config" in body_schema(doc, scripts + "{script_id}/", "patch")["properties"]
    assert body_schema(doc, "/v1.1/instances/")["required"] == ["name"]
    assert body_schema(doc, "/v1.1/instances/{instance}/endpoints/scripts/")["required"] == [
        "name", "script"]
