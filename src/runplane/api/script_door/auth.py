"""Authenticating a request whose key may be in its body (Syncano's `_api_key`)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from runplane.api.script_door.requests import key_from, object_body
from runplane.core import keys
from runplane.core.context import Core
from runplane.model import ApiKey


async def with_body(
    request: Request, core: Core, *, limit: int | None = None
) -> tuple[ApiKey, dict[str, Any]]:
    """The caller's key and the request's JSON object body.

    The key is checked before the body is parsed, as the original did, unless the key can
    only be in the body.
    """
    key = key_from(request)
    if key is None:
        body = await object_body(request, limit)
        return await keys.authenticate(core, key_from(request, body)), body
    api_key = await keys.authenticate(core, key)
    return api_key, await object_body(request, limit)
