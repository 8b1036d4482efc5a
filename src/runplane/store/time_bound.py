"""A time bound on the statements that run users' regular expressions inside PostgreSQL.

On SQLite runplane matches regexes itself, with RE2 (linear time). PostgreSQL runs them with
its own engine (the `~` operator), whose compiler takes seconds on some patterns RE2 accepts
(`([^x]*[^y]*){1,254}z`: about 13 s on PostgreSQL 15), and which backtracks in places. Such
a statement holds a database connection, a database thread and a backend's CPU: so it runs
under `SET LOCAL statement_timeout`, and a cancelled one is the caller's 400, not a 500.

The bound is `Database(query_timeout_ms=...)` (RUNPLANE_QUERY_TIMEOUT_MS), carried to every
connection as an execution option. The statement runs in a savepoint that is rolled back
once its rows are read (it only reads): that drops the SET LOCAL, so the rest of the caller's
transaction (a run's creation, say) is not bounded, and a cancelled statement leaves that
transaction usable.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import DBAPIError

from runplane.errors import Invalid
from runplane.store.filters import REGEX, PropertyFilter

QUERY_TIMEOUT_OPTION = "runplane_query_timeout_ms"
# PostgreSQL's SQLSTATE for a statement cancelled (statement_timeout, or a cancel request).
QUERY_CANCELED = "57014"


def timeout_ms(conn: Connection) -> int:
    """The bound this connection's database was given (0: none)."""
    return int(conn.get_execution_options().get(QUERY_TIMEOUT_OPTION) or 0)


def too_slow(milliseconds: int) -> Invalid:
    return Invalid.field(
        "non_field_errors",
        f"The filter took too long: its regular expression ran for more than "
        f"{milliseconds} ms in the database. Simplify it (fewer nested or counted "
        f"repetitions) or narrow the search.",
    )


def is_cancelled(error: DBAPIError) -> bool:
    return getattr(error.orig, "sqlstate", None) == QUERY_CANCELED


def has_regex(filters: Iterable[PropertyFilter]) -> bool:
    return any(item.match == REGEX for item in filters)


@contextmanager
def bounded(conn: Connection, *, needed: bool = True) -> Iterator[None]:
    """Run the block's read-only statements under the database's statement timeout, on
    PostgreSQL (and where `needed`: a regex is involved); a statement cancelled by it is
    `too_slow`. The block must only read: its savepoint is rolled back at the end."""
    milliseconds = timeout_ms(conn)
    if conn.dialect.name != "postgresql" or not needed or milliseconds <= 0:
        yield
        return
    savepoint = conn.begin_nested()
    try:
        conn.execute(select(func.set_config("statement_timeout", str(milliseconds), True)))
        yield
    except DBAPIError as error:
        if is_cancelled(error):
            raise too_slow(milliseconds) from error
        raise
    finally:
        if savepoint.is_active:
            savepoint.rollback()
