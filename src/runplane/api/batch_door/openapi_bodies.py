"""The batch door's request body, described for /openapi.json only (see api/openapi_docs.py).

One body for every action: `run` takes jobs and a callback URL, the others name a batch by
`async`. Each job is described from the action registry itself (namespace, action, and the
pydantic model of its params), so the description cannot drift from what a job accepts.
"""

from __future__ import annotations

from typing import Any

from runplane.api.batch_door.actions import NAMESPACES
from runplane.api.openapi_docs import Schema

ASYNC_ID: Schema = {"type": "string", "pattern": "^[0-9a-f]{32}$",
                    "description": "the batch, as `run` answered it (`asyncId`)"}
EXAMPLE: dict[str, Any] = {
    "jobs": [{"namespace": "device", "action": "create", "params": {"name": "r1"}}],
    "callbackUrl": "https://example.com/callback",
}


def _job(namespace: str, action: str, params: Schema) -> Schema:
    return {
        "title": f"{namespace}.{action}",
        "type": "object",
        "required": ["namespace", "action", "params"],
        "properties": {
            "namespace": {"type": "string", "enum": [namespace]},
            "action": {"type": "string", "enum": [action]},
            # iVvy refuses an empty params object, or an empty value in it (24093).
            "params": {**params, "minProperties": 1},
        },
    }


def jobs_schema() -> Schema:
    return {
        "type": "array", "minItems": 1, "maxItems": 1000,
        "items": {"anyOf": [
            _job(namespace, name, action.params.model_json_schema())
            for namespace, actions in NAMESPACES.items() for name, action in actions.items()
        ]},
    }


def batch_body() -> Schema:
    return {
        "title": "Batch",
        "description": "`run`: jobs (and callbackUrl); the other actions: the batch's `async`.",
        "anyOf": [
            {"title": "Run", "type": "object", "required": ["jobs"], "properties": {
                "jobs": jobs_schema(),
                "callbackUrl": {"type": "string", "format": "uri"},
            }},
            {"title": "Batch id", "type": "object", "required": ["async"],
             "properties": {"async": ASYNC_ID}},
        ],
    }
