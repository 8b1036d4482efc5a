"""Errors answered outside any door's routes, in the envelope of the door a path belongs to.

The router's own 404 (no route: `/rest/instance/device/a/b`, `/api/1.0/event`) and 405, the
body cap's 413 and the connection guard's 500 come before (or after) any door's route class
could shape them; a client of a door must still read its door's envelope: eNMS's alert,
iVvy's document, Syncano's detail.
"""

from __future__ import annotations

from fastapi import Request
from starlette.exceptions import HTTPException

from runplane.api.batch_door.envelope import NO_SUCH_OPERATION, envelope
from runplane.api.json_response import JSONResponse

# eNMS's own words for an unknown path (eNMS/server.py, status_error_message); runplane's
# other errors here (413, 405, the guard's 500) say more than eNMS's words would.
ENMS_WORDS = {404: "Not Found."}


def error_body(path: str, status: int, message: str, batch_code: int) -> dict[str, object]:
    """eNMS's alert under /rest/ (in its words where it had some), iVvy's envelope (with
    `batch_code`) under /api/, else Syncano's detail."""
    if path.startswith("/rest/"):
        return {"alert": f"Error {status} - {ENMS_WORDS.get(status, message)}"}
    if path.startswith("/api/"):
        return envelope(status, message, batch_code)
    return {"detail": message}


async def http_error(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's handler of Starlette's HTTPException (the router's 404 and 405), per door."""
    assert isinstance(error, HTTPException)
    body = error_body(request.url.path, error.status_code, str(error.detail), NO_SUCH_OPERATION)
    return JSONResponse(body, status_code=error.status_code, headers=error.headers)
