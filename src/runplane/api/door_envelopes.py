"""Errors answered outside any door's routes, in the envelope of the door a path belongs to.

The router's own 404 (no route: `/rest/instance/device/a/b`, `/api/1.0/event`) and 405, and
the body cap's 413, come before any door's route class could shape them; a client of a door
must still read its door's envelope: eNMS's alert, iVvy's document, Syncano's detail.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from runplane.api.batch_door.envelope import BODY_TOO_LARGE, NO_SUCH_OPERATION, envelope


def error_body(path: str, status: int, message: str) -> dict[str, object]:
    if path.startswith("/rest/"):
        return {"alert": f"Error {status} - {message}"}
    if path.startswith("/api/"):
        return envelope(status, message, BODY_TOO_LARGE if status == 413 else NO_SUCH_OPERATION)
    return {"detail": message}


async def http_error(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's handler of Starlette's HTTPException (the router's 404 and 405), per door."""
    assert isinstance(error, HTTPException)
    return JSONResponse(error_body(request.url.path, error.status_code, str(error.detail)),
                        status_code=error.status_code, headers=error.headers)
