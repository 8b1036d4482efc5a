"""The eNMS `/rest/search` request: columns, criteria, order and a window, parsed once.

`search_criteria` is flat, as eNMS's tables send it: `<column>` (the value),
`<column>_filter` (inclusion | equality | regex | empty; inclusion by default) and
`<column>_invert`; an inclusion ignores ASCII case, as eNMS's did. `order` is
`[{"column": <index in columns, or a name>, "dir": "asc"}]`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from runplane.core.pool_filters import (
    BAD_PROPERTY,
    INVERT_SUFFIX,
    group_options,
    is_property_name,
    make_filter,
)
from runplane.errors import Invalid
from runplane.store.filters import INCLUSION, PropertyFilter

FILTER_SUFFIX = "_filter"
# eNMS answered 10 records unless told otherwise.
DEFAULT_RECORDS = 10
MAX_RECORDS = 10_000


@dataclass(frozen=True)
class SearchRequest:
    type: str
    columns: list[str] | None  # None: every property of each record
    filters: list[PropertyFilter]
    order: list[tuple[str, bool]]  # (property, descending)
    start: int
    limit: int


def _columns(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Invalid.field("columns", "Must be a list of property names.")
    return value


def _criteria(value: Any) -> list[PropertyFilter]:
    if value is None:
        return []
    if not isinstance(value, dict):
        raise Invalid.field("search_criteria", "Must be an object.")
    filters: list[PropertyFilter] = []
    grouped = group_options(value, prefix="", suffixes=(FILTER_SUFFIX, INVERT_SUFFIX))
    for name, options in grouped.items():
        made = make_filter(
            name, options.get(""), options.get(FILTER_SUFFIX), options.get(INVERT_SUFFIX, False),
            field=name, match_field=name + FILTER_SUFFIX,
        )
        if made is not None:
            # eNMS's inclusion was SQL LIKE, which ignores ASCII case on its SQLite.
            filters.append(replace(made, ignore_case=made.match == INCLUSION))
    return filters


def _order(value: Any, columns: list[str] | None) -> list[tuple[str, bool]]:
    """(property, descending) pairs. A well-formed name that no device has is kept, not
    refused: it sorts every record alike, so the answer is in name order. eNMS did the same
    (`getattr(table, column, None)`: an unknown column was no ordering, and no error), and
    with custom properties any identifier may be one that a device gets tomorrow; refusing
    would cost a look through every device's properties per search for no safety gained
    (the name is never SQL: it is a bound JSON path or a known column)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise Invalid.field("order", 'Must be a list like [{"column": 0, "dir": "asc"}].')
    order: list[tuple[str, bool]] = []
    for item in value:
        spec = item if isinstance(item, dict) else {"column": item}
        column, direction = spec.get("column"), spec.get("dir", "asc")
        if isinstance(column, int) and not isinstance(column, bool):
            if columns is None or not 0 <= column < len(columns):
                raise Invalid.field("order", f"Column {column} is not an index of `columns`.")
            column = columns[column]
        if not isinstance(column, str) or not is_property_name(column):
            raise Invalid.field("order", BAD_PROPERTY)
        if direction not in ("asc", "desc"):
            raise Invalid.field("order", 'The direction "dir" is "asc" or "desc".')
        order.append((column, direction == "desc"))
    return order


def _integer(field: str, value: Any, *, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Invalid.field(field, f"Must be an integer from {low} to {high}.")
    return value


def parse_search(body: Any) -> SearchRequest:
    if not isinstance(body, dict):
        raise Invalid.field("non_field_errors", "Expected a JSON object.")
    kind = body.get("type")
    if not isinstance(kind, str) or not kind:
        raise Invalid.field("type", "This field is required (device, pool...).")
    columns = _columns(body.get("columns"))
    return SearchRequest(
        type=kind,
        columns=columns,
        filters=_criteria(body.get("search_criteria")),
        order=_order(body.get("order"), columns),
        start=_integer("start", body.get("start"), default=0, low=0, high=10**9),
        limit=_integer("maximum_return_records", body.get("maximum_return_records"),
                       default=DEFAULT_RECORDS, low=0, high=MAX_RECORDS),
    )
