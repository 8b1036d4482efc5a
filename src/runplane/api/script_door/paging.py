"""Syncano's list envelope: `{"next", "prev", "objects"}` with path-only cursor links."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import Request

from runplane.api.script_door.requests import page_request
from runplane.model import Page

T = TypeVar("T")
Fetch = Callable[[int | None, int, bool], Awaitable[Page[T]]]


async def paginated(
    request: Request,
    fetch: Fetch[T],
    *,
    key: Callable[[T], int],
    render: Callable[[T], dict[str, Any]],
    default_descending: bool = False,
    max_size: int = 100,
) -> dict[str, Any]:
    wanted = page_request(request, default_descending=default_descending, max_size=max_size)
    if wanted.page_size == 0:
        return {"next": None, "prev": None, "objects": []}
    # Walking backward is walking forward in the opposite order, then turning the page over.
    descending = wanted.descending != wanted.backward
    page = await fetch(wanted.last_pk, wanted.page_size, descending)
    items = list(reversed(page.items)) if wanted.backward else page.items

    def link(direction: int, last_pk: int) -> str:
        query: dict[str, Any] = {"page_size": wanted.page_size}
        if wanted.ordering:
            query["ordering"] = wanted.ordering
        query.update(direction=direction, last_pk=last_pk)
        return f"{request.url.path}?{urlencode(query)}"

    more_after = page.has_more if not wanted.backward else True
    more_before = page.has_more if wanted.backward else wanted.direction is not None
    return {
        "next": link(1, key(items[-1])) if items and more_after else None,
        "prev": link(0, key(items[0])) if items and more_before else None,
        "objects": [render(item) for item in items],
    }
