"""Reading a batch door request: its key, its instance, and its JSON body within a limit."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from runplane.api.batch_door.envelope import BAD_BODY, BODY_TOO_LARGE, BatchError
from runplane.api.credentials import key_from as basic_or_header_key
from runplane.api.credentials import service_instance
from runplane.core import keys
from runplane.core.context import Core
from runplane.core.validation import loads
from runplane.model import ApiKey


def key_from(request: Request) -> str | None:
    """`X-API-KEY`, the password of HTTP Basic, or `Authorization: <any scheme> <key>`."""
    found = basic_or_header_key(request)
    if found:
        return found
    parts = request.headers.get("authorization", "").split()
    if len(parts) == 2 and parts[0].lower() != "basic":
        return parts[1]
    return None


async def caller(request: Request, core: Core) -> tuple[ApiKey, str]:
    """The caller's key and the instance the request acts on (the service door's rule)."""
    key = await keys.authenticate(core, key_from(request))
    return key, service_instance(request, key)


async def body_of(request: Request, limit: int) -> Any:
    """The JSON body ({} when empty); 413 past `limit` bytes, 400 if it is not JSON."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    raw = await request.body()
    if len(raw) > limit:
        raise too_large(limit)
    if not raw.strip():
        return {}
    try:
        return loads(raw)
    except ValueError as error:
        raise BatchError(400, f"The request body is not valid JSON: {error}", BAD_BODY
                         ) from None


def too_large(limit: int) -> BatchError:
    return BatchError(413, f"Request body too large: at most {limit} bytes.", BODY_TOO_LARGE)
