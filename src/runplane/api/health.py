"""/healthz: is the server up and its database reachable."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from runplane import __version__
from runplane.api.json_response import JSONResponse
from runplane.errors import StoreUnavailable
from runplane.store.health import ping

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness and database reachability")
async def healthz(request: Request) -> JSONResponse:
    core = request.app.state.core
    body: dict[str, Any] = {
        "status": "ok",
        "version": __version__,
        "database": core.database.dialect,
        "worker_slots": core.settings.workers,
        # How this process's runs are kept from the server's files and each other (None: it
        # runs none; each `runplane worker` logs its own at start).
        "isolation": request.app.state.isolation,
    }
    try:
        await core.database.read_small(ping)
    except StoreUnavailable as error:
        body.update(status="unavailable", error=error.message)
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)
