"""The service door's error envelope: eNMS's `{"alert": "Error <status> - <message>"}`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from runplane.api.json_response import JSONResponse
from runplane.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    RunplaneError,
    SecretsUnavailable,
    StoreUnavailable,
    TooLarge,
    Unauthenticated,
)

log = logging.getLogger("runplane.api")

WRONG_CREDENTIALS = "Wrong Credentials."
FORBIDDEN = "Forbidden."
# eNMS answered an unknown object as one the user may not see: its fetch raised its RBAC
# error, a 403 "Not Authorized." (a second DELETE too). Other unknowns keep runplane's 404.
NOT_AUTHORIZED = "Not Authorized."
HIDDEN_KINDS = ("Device", "Service", "Pool", "Credential")
UNEXPECTED = "An unexpected error occurred; it is logged on the server."
# What HTTP Basic clients need to hear to send their credentials.
CHALLENGE = {"WWW-Authenticate": 'Basic realm="runplane"'}


class Alert(Exception):
    """An answer decided by the door itself (a JSON parse error, an unknown type...)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None
                 ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def alert(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"alert": f"Error {status} - {message}"}, status_code=status, headers=headers
    )


def invalid_message(fields: dict[str, list[str]]) -> str:
    """Every field's messages in one readable line: `field: message; other: message`."""
    parts = []
    for field, messages in fields.items():
        text = " ".join(messages)
        parts.append(text if field in ("", "non_field_errors") else f"{field}: {text}")
    return "; ".join(parts)


def render(error: RunplaneError) -> JSONResponse:
    match error:
        case Unauthenticated():
            return alert(401, WRONG_CREDENTIALS, CHALLENGE)
        case Forbidden():
            return alert(403, FORBIDDEN)
        case NotFound() if error.kind in HIDDEN_KINDS:
            return alert(403, NOT_AUTHORIZED)
        case NotFound():
            return alert(404, error.message)
        case Invalid():
            return alert(400, invalid_message(error.fields))
        case Conflict():
            return alert(400, f"{error.field}: {error.message}")
        case TooLarge():
            return alert(413, error.message)
        case SecretsUnavailable():
            # The operator's to fix (the key): the detail goes to the log, not to clients.
            log.error("credentials' secrets unavailable: %s", error.message)
            return alert(503, "Credentials are unavailable: the server's secret key is "
                              "missing or unreadable (see the server's log).")
        case StoreUnavailable():
            log.error("store unavailable: %s", error.message)
            response = alert(503, "Service temporarily unavailable, try again later.")
            response.headers["Retry-After"] = "1"
            return response
    return alert(400, error.message)


def render_validation(error: RequestValidationError) -> JSONResponse:
    parts = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem.get("loc", ()) if part != "body")
        parts.append(f"{where}: {problem['msg']}" if where else problem["msg"])
    return alert(400, "; ".join(parts))


class ServiceDoorRoute(APIRoute):
    """Every route of the door answers errors in eNMS's alert envelope, 500s included."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def translated(request: Request) -> Response:
            try:
                return await handler(request)
            except Alert as error:
                return alert(error.status, error.message, error.headers)
            except RunplaneError as error:
                return render(error)
            except RequestValidationError as error:
                return render_validation(error)
            except HTTPException:
                raise
            except Exception:
                log.exception("unexpected error on %s %s", request.method, request.url.path)
                return alert(500, UNEXPECTED)

        return translated
