"""Request bodies in /openapi.json for routes that read their body raw.

Such routes parse the body themselves (each door's clients send JSON loosely), so FastAPI
cannot infer a schema; a door passes `body_doc(...)` as the route's `openapi_extra` so that
/docs and schemathesis see what the operation accepts. It documents, it checks nothing.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def body_doc(schema: Schema, example: Any = None, *, required: bool = True) -> Schema:
    """An operation's `openapi_extra`: its JSON request body."""
    content: Schema = {"schema": schema}
    if example is not None:
        content["example"] = example
    return {"requestBody": {"required": required, "content": {"application/json": content}}}
