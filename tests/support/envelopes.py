"""What every answer of a fuzzed request must be: no 5xx, and an error in its door's envelope.

The door is told by the path, as the body limit tells it (api/body_limit.py): the service
door answers `{"alert": "Error <status> - ..."}`, the batch door iVvy's document, the script
door Syncano's `{"detail": ...}` or its field-error dict. Never text/plain or HTML.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

IVVY_KEYS = {"errorCode", "message", "specificCode", "additionalMessages"}


def door_of(path: str) -> str:
    if path.startswith("/rest/"):
        return "service"
    if path.startswith("/api/"):
        return "batch"
    return "script"


def _is_field_errors(body: Any) -> bool:
    """Syncano's field errors: {"field": ["message", ...]} (a message may be nested)."""
    def messages(value: Any) -> bool:
        if isinstance(value, str):
            return True
        if isinstance(value, list):
            return bool(value) and all(messages(item) for item in value)
        return isinstance(value, dict) and bool(value) and all(map(messages, value.values()))

    return isinstance(body, dict) and bool(body) and all(map(messages, body.values()))


def envelope_problem(path: str, status: int, body: Any) -> str | None:
    """Why `body` is not an error of `path`'s door answered with `status`, or None."""
    match door_of(path):
        case "service":
            ok = (isinstance(body, dict) and set(body) == {"alert"}
                  and isinstance(body["alert"], str)
                  and body["alert"].startswith(f"Error {status} - "))
        case "batch":
            ok = (isinstance(body, dict) and set(body) == IVVY_KEYS
                  and body["errorCode"] == status and isinstance(body["message"], str)
                  and isinstance(body["specificCode"], int))
        case _:
            ok = (isinstance(body, dict) and isinstance(body.get("detail"), str)
                  ) or _is_field_errors(body)
    return None if ok else f"not the {door_of(path)} door's error envelope"


def problem_of(path: str, status: int, content_type: str, content: bytes) -> str | None:
    """Why an answer breaks the rules (a 5xx, an error that is not its door's JSON), or None."""
    if status >= 500:
        return f"server error {status}"
    if status < 400:
        return None
    if not content_type.startswith("application/json"):
        return f"error {status} answered as {content_type or 'no content type'}"
    try:
        body = json.loads(content)
    except ValueError:
        return f"error {status} whose body is not JSON"
    return envelope_problem(path, status, body)


def httpx_problem(response: httpx.Response) -> str | None:
    return problem_of(response.request.url.path, response.status_code,
                      response.headers.get("content-type", ""), response.content)


def schemathesis_problem(response: Any) -> str | None:
    """The same for schemathesis's response (requests underneath; headers are lists)."""
    content_type = ",".join(response.headers.get("content-type", []))
    path = httpx.URL(str(response.request.url)).path
    return problem_of(path, response.status_code, content_type, response.content)
