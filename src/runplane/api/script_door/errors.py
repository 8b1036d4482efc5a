"""The script door's error envelope: Syncano's `{"detail": ...}` and `{"field": [...]}`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from runplane.api.json_response import JSONResponse
from runplane.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    RunplaneError,
    StoreUnavailable,
    TooLarge,
    Unauthenticated,
)

log = logging.getLogger("runplane.api")


class DoorError(Exception):
    """An answer decided by the door itself (a parse error, a bad page parameter...)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.status = status
        self.body = body


def detail(status: int, message: str) -> DoorError:
    return DoorError(status, {"detail": message})


def too_large(limit: int) -> DoorError:
    return detail(413, f"Request size limit exceeded ({limit}).")


def render(error: RunplaneError) -> JSONResponse:
    match error:
        case NotFound():
            return JSONResponse({"detail": error.message}, status_code=404)
        case Invalid():
            return JSONResponse(error.fields, status_code=400)
        case Conflict():
            return JSONResponse({error.field: [error.message]}, status_code=400)
        case TooLarge():
            return JSONResponse(too_large(error.limit).body, status_code=413)
        case Unauthenticated() | Forbidden():
            return JSONResponse({"detail": error.message}, status_code=403)
        case StoreUnavailable():
            log.error("store unavailable: %s", error.message)
            return JSONResponse(
                {"detail": "Service temporarily unavailable, try again later."},
                status_code=503, headers={"Retry-After": "1"},
            )
    return JSONResponse({"detail": error.message}, status_code=400)


def render_validation(error: RequestValidationError) -> JSONResponse:
    fields: dict[str, list[str]] = {}
    for problem in error.errors():
        location = [str(part) for part in problem.get("loc", ()) if part not in ("body", "query")]
        fields.setdefault(".".join(location) or "non_field_errors", []).append(problem["msg"])
    return JSONResponse(fields, status_code=400)


class ScriptDoorRoute(APIRoute):
    """Every route of the door answers core errors in Syncano's envelope."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def translated(request: Request) -> Response:
            try:
                return await handler(request)
            except DoorError as error:
                return JSONResponse(error.body, status_code=error.status)
            except RunplaneError as error:
                return render(error)
            except RequestValidationError as error:
                return render_validation(error)

        return translated
