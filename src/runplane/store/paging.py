"""Keyset pagination by primary key, shared by every list the store offers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Column, Connection, Select

from runplane.model import Page
from runplane.store.types import AnyRow

T = TypeVar("T")


def fetch_page(
    conn: Connection,
    query: Select[Any],
    key: Column[Any],
    *,
    after: int | None,
    limit: int,
    descending: bool,
    convert: Callable[[AnyRow], T],
) -> Page[T]:
    """Rows strictly after `after` in the chosen order, at most `limit`, and whether more exist."""
    if after is not None:
        query = query.where(key < after if descending else key > after)
    query = query.order_by(key.desc() if descending else key.asc()).limit(limit + 1)
    rows: Sequence[AnyRow] = conn.execute(query).all()
    return Page(items=[convert(row) for row in rows[:limit]], has_more=len(rows) > limit)
