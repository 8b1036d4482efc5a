"""Request bodies as eNMS read them: JSON whatever the Content-Type says."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from runplane.api.service_door.errors import Alert


async def json_body(request: Request) -> Any:
    """The body parsed as JSON; 400 alert if it is empty or not JSON."""
    raw = await request.body()
    if not raw.strip():
        raise Alert(400, "A JSON body is required.")
    try:
        return json.loads(raw)
    except ValueError as error:
        raise Alert(400, f"The body is not valid JSON: {error}.") from None
