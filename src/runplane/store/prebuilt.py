"""Statements built once, at import, with bound parameters.

Building a SQLAlchemy statement and computing its cache key costs far more Python time than
SQLite takes to run a small one, so the hot paths (claim, record, create a run, look one up)
build theirs once and pass values at execution. An UPDATE's SET values cannot use bound
parameters named after their own columns (SQLAlchemy reserves those names), so they are
named with a prefix: `bound_values` makes them, `values_of` fills them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, bindparam
from sqlalchemy.sql.elements import BindParameter

PREFIX = "set_"


def bound_values(table: Table, *columns: str) -> dict[str, BindParameter[Any]]:
    """SET values for `columns`, each a bound parameter named PREFIX + column."""
    return {name: bindparam(PREFIX + name, type_=table.c[name].type) for name in columns}


def values_of(**values: Any) -> dict[str, Any]:
    """The parameters that fill `bound_values`' placeholders."""
    return {PREFIX + name: value for name, value in values.items()}
