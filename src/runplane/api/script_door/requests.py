"""Reading what a Syncano client sends: keys, loose JSON bodies, page parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Depends, Request

from runplane.api.core_dependency import CoreDep
from runplane.api.script_door.errors import detail, too_large
from runplane.core import keys, validation
from runplane.model import ApiKey

FORM_TYPES = ("application/x-www-form-urlencoded",)
BAD_PAGE = "Incorrect page parameter provided."




async def read_body(request: Request, limit: int | None = None) -> Any:
    """The body as JSON (or form fields); {} when empty. 413 past `limit` bytes."""
    if limit is not None:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large(limit)
    raw = await request.body()
    if limit is not None and len(raw) > limit:
        raise too_large(limit)
    if not raw.strip():
        return {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    # curl -d sends JSON labelled as a form unless told otherwise: a body that opens like
    # JSON is read as JSON whatever its label.
    if content_type in FORM_TYPES and raw.lstrip()[:1] not in (b"{", b"["):
        return dict(parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True))
    try:
        return validation.loads(raw)
    except ValueError as error:
        raise detail(400, f"JSON parse error - {error}") from None


async def object_body(request: Request, limit: int | None = None) -> dict[str, Any]:
    body = await read_body(request, limit)
    if not isinstance(body, dict):
        raise detail(400, "Invalid data. Expected a dictionary.")
    return body


def key_from(request: Request, body: Any = None) -> str | None:
    """Where Syncano looked for a key, in its order: header, query, Authorization, body."""
    header = request.headers.get("x-api-key")
    if header:
        return header.strip()
    for name in ("api_key", "apikey"):
        values = request.query_params.getlist(name)
        if values and values[-1]:
            return values[-1].strip()
    authorization = request.headers.get("authorization", "")
    parts = authorization.split()
    # Any scheme word is accepted (token, Token, ApiKey, Bearer), as the original did.
    if len(parts) == 2:
        return parts[1]
    if isinstance(body, dict) and isinstance(body.get("_api_key"), str):
        return str(body["_api_key"])
    return None


async def caller(request: Request, core: CoreDep) -> ApiKey:
    """The authenticated key of a request whose key is not in its body."""
    return await keys.authenticate(core, key_from(request))


Caller = Annotated[ApiKey, Depends(caller)]


@dataclass(frozen=True)
class PageRequest:
    page_size: int
    descending: bool
    direction: int | None
    last_pk: int | None
    ordering: str | None

    @property
    def backward(self) -> bool:
        return self.direction == 0


def _last(request: Request, name: str) -> str | None:
    # Syncano's Python client repeats page_size / ordering on every page: the last one wins.
    values = request.query_params.getlist(name)
    return values[-1] if values else None


def page_request(request: Request, *, default_descending: bool, max_size: int) -> PageRequest:
    def integer(name: str) -> int | None:
        value = _last(request, name)
        if value is None or value == "":
            return None
        try:
            number = int(value)
        except ValueError:
            raise detail(400, BAD_PAGE) from None
        if number < 0:
            raise detail(400, BAD_PAGE)
        # Past any id the store can hold (the query would fail); a size is capped anyway.
        return number if name == "page_size" else min(number, validation.ID_MAX)

    size = integer("page_size")
    direction = integer("direction")
    if direction not in (None, 0, 1):
        raise detail(400, BAD_PAGE)
    ordering = (_last(request, "ordering") or "").lower() or None
    descending = default_descending if ordering not in ("asc", "desc") else ordering == "desc"
    return PageRequest(
        page_size=max_size if size is None else min(size, max_size),
        descending=descending,
        direction=direction,
        last_pk=integer("last_pk"),
        ordering=ordering if ordering in ("asc", "desc") else None,
    )
