"""iVvy's error envelope and codes: for the batch door's answers and for a job's response.

A job's response is stored by the core's batch driver as the door's job set words it
(actions/registry.py). `specificCode`s 24091-24115 are iVvy's own; the others are
runplane's, in the same family, listed in the README.
"""

from __future__ import annotations

from typing import Any

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

# iVvy's codes (batch namespace).
NOT_SAVED = 24091
INCORRECT_JOB_FORMAT = 24092
EMPTY_JOB_PARAMETER = 24093
PROGRESS_NOT_FOUND = 24105
RESULTS_NOT_COMPLETED = 24114
RESULTS_NOT_FOUND = 24115
# runplane's codes for the door.
UNKNOWN_ACTION = 24000
BAD_BODY = 24001
# No such path or method under /api/ (the router's 404 and 405).
NO_SUCH_OPERATION = 24002
# runplane's: an error of its own (logged), not of the request.
INTERNAL_ERROR = 24500
TOO_MANY_JOBS = 24094
BODY_TOO_LARGE = 24095
CALLBACK_REFUSED = 24096
RESTART_NOT_FOUND = 24121
RESTART_NOT_FINISHED = 24122
REPOST_NOT_FOUND = 24131
REPOST_NOT_FINISHED = 24132
CALLBACKS_NOT_FOUND = 24141
UNAUTHENTICATED = 24401
FORBIDDEN = 24403
INSTANCE_NOT_FOUND = 24404
# runplane's codes for a job's response.
JOB_INTERNAL_ERROR = 24200
JOB_UNKNOWN_NAMESPACE = 24201
JOB_UNKNOWN_ACTION = 24202
JOB_INVALID_PARAMS = 24203
JOB_NOT_FOUND = 24204
JOB_CONFLICT = 24205
JOB_TOO_LARGE = 24206
JOB_RUN_TOO_SLOW = 24207
JOB_DRIVER_LOST = 24208


class BatchError(RunplaneError):
    """An error with its iVvy envelope: HTTP status, message, specificCode."""

    def __init__(self, status: int, message: str, code: int,
                 additional: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.additional = list(additional or [])

    def envelope(self) -> dict[str, Any]:
        return envelope(self.status, self.message, self.code, self.additional)


def envelope(status: int, message: str, code: int, additional: list[str] | None = None
             ) -> dict[str, Any]:
    return {
        "errorCode": status, "message": message, "specificCode": code,
        "additionalMessages": list(additional or []),
    }


def field_messages(fields: dict[str, list[str]]) -> list[str]:
    return [f"{name}: {message}" if name else message
            for name, messages in fields.items() for message in messages]


def from_core(error: RunplaneError) -> BatchError:
    """A core error in iVvy's words (a job's response, or the door's answer)."""
    match error:
        case BatchError():
            return error
        case NotFound():
            return BatchError(404, error.message, JOB_NOT_FOUND)
        case Invalid():
            return BatchError(400, "Invalid parameters.", JOB_INVALID_PARAMS,
                              field_messages(error.fields))
        case Conflict():
            return BatchError(409, error.message, JOB_CONFLICT, [f"{error.field}: {error.message}"])
        case TooLarge():
            return BatchError(413, error.message, JOB_TOO_LARGE)
        case Unauthenticated():
            return BatchError(401, error.message, UNAUTHENTICATED)
        case Forbidden():
            return BatchError(403, error.message, FORBIDDEN)
        case StoreUnavailable():
            return BatchError(503, "The information was not saved.", NOT_SAVED, [error.message])
    return BatchError(400, error.message, JOB_INVALID_PARAMS)
