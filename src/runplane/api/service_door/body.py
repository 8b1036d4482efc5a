"""Request bodies as eNMS read them: JSON whatever the Content-Type says, and only what the
store can keep (no lone surrogates, NaN or infinities; nesting within the parser's depth)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from runplane.api.service_door.errors import Alert
from runplane.core.validation import loads


async def json_body(request: Request) -> Any:
    """The body parsed as JSON; 400 alert if it is empty or not JSON."""
    raw = await request.body()
    if not raw.strip():
        raise Alert(400, "A JSON body is required.")
    try:
        return loads(raw)
    except ValueError as error:
        raise Alert(400, f"The body is not valid JSON: {error}.") from None
