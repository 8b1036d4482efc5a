"""The batch door's error envelope: iVvy's `{"errorCode", "message", "specificCode",
"additionalMessages"}`, with the HTTP status equal to `errorCode`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from runplane.api.batch_door.envelope import (
    BAD_BODY,
    INSTANCE_NOT_FOUND,
    INTERNAL_ERROR,
    BatchError,
    field_messages,
    from_core,
)
from runplane.api.json_response import JSONResponse
from runplane.errors import NotFound, RunplaneError, StoreUnavailable

log = logging.getLogger("runplane.api")
UNEXPECTED = "runplane: an unexpected error; it is in the server's log."


def door_error(error: RunplaneError) -> BatchError:
    """A core error as the door answers it (an unknown instance has its own code)."""
    if isinstance(error, NotFound) and error.kind == "Instance":
        return BatchError(404, error.message, INSTANCE_NOT_FOUND)
    if isinstance(error, StoreUnavailable):
        log.error("store unavailable: %s", error.message)
    return from_core(error)


def answer(error: BatchError) -> JSONResponse:
    headers = {"Retry-After": "1"} if error.status == 503 else None
    return JSONResponse(error.envelope(), status_code=error.status, headers=headers)


class BatchDoorRoute(APIRoute):
    """Every route of the door answers its errors in iVvy's envelope."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def translated(request: Request) -> Response:
            try:
                return await handler(request)
            except RunplaneError as error:
                return answer(door_error(error))
            except RequestValidationError as error:
                fields = {".".join(str(p) for p in e.get("loc", ())): [e["msg"]]
                          for e in error.errors()}
                return answer(BatchError(400, "Invalid request", BAD_BODY,
                                         field_messages(fields)))
            except HTTPException:
                raise
            except Exception:  # a bug of ours: said in the log, answered in the envelope
                log.exception("unexpected error on %s %s", request.method, request.url.path)
                return answer(BatchError(500, UNEXPECTED, INTERNAL_ERROR))

        return translated
