"""Hot statements run on SQLite's driver, compiled by SQLAlchemy once.

SQLAlchemy spends about 20 us of Python on every statement it executes (an execution
context, parameter processing, a cursor result), where SQLite itself takes 3-4 us for the
small statements a run is made of. A run takes about 16 of them, so on SQLite the hot paths
(a run's request, its handoff, its result and the next claim) run theirs here instead: the
statement is compiled by SQLAlchemy's own SQLite compiler once, and each execution converts
parameters and result columns with the same type processors SQLAlchemy would use, on the
transaction's own driver connection. On PostgreSQL, and for what this does not cover (an
empty IN list, statements whose defaults are computed in Python), it is plain
`conn.execute`.

Results offer the part of SQLAlchemy's Result API the store uses (`first`, `one`, `all`,
`scalar_one`, iteration, `rowcount`); rows are named tuples with `_mapping` and `_asdict`.
"""

from __future__ import annotations

import re
import sqlite3
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.selectable import Select

# What can be prepared: a query or an INSERT/UPDATE/DELETE (each compiles and executes).
Statement = Select[Any] | UpdateBase

Processor = Callable[[Any], Any] | None
_POSTCOMPILE = re.compile(r"__\[POSTCOMPILE_(\w+)\]")


@dataclass(frozen=True)
class _Bind:
    name: str  # in the compiled SQL
    key: str  # what the caller passes
    processor: Processor
    default: Any
    required: bool
    expanding: bool


@dataclass
class _Plan:
    sql: str
    binds: list[_Bind]
    columns: list[str]
    processors: list[Processor]
    # Derived once, for every execution: whether IN lists need expanding, the row type, and
    # (index, processor) of the columns that need converting (most need none).
    expanding: bool = field(init=False)
    row: type[Any] | None = field(init=False)
    converted: list[tuple[int, Callable[[Any], Any]]] = field(init=False)

    def __post_init__(self) -> None:
        self.expanding = any(bind.expanding for bind in self.binds)
        self.row = _row_type(self.columns) if self.columns else None
        self.converted = [(index, processor) for index, processor in enumerate(self.processors)
                          if processor is not None]


class Prepared:
    """A statement built once; `execute` runs it on the driver where it can (see above)."""

    def __init__(self, statement: Statement) -> None:
        self.statement = statement
        self._plan: _Plan | None = None
        self._unsupported = False

    def execute(self, conn: Connection, parameters: Mapping[str, Any] | None = None) -> Any:
        """The statement's result: a `Rows` on SQLite, SQLAlchemy's result elsewhere."""
        parameters = parameters or {}
        plan = self._plan_for(conn)
        if plan is not None:
            sql, values = _bound(plan, parameters)
            if sql is not None:  # None: an empty IN list, which SQLAlchemy renders specially
                fetched, rowcount = _on_driver(conn, sql, values, fetch=bool(plan.columns))
                return Rows([_row(plan, raw) for raw in fetched], rowcount)
        return conn.execute(self.statement, parameters)

    def execute_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """The statement once per row of parameters (an INSERT of several rows, say)."""
        plan = self._plan_for(conn) if rows else None
        if plan is None or plan.expanding or plan.columns:
            conn.execute(self.statement, list(rows))
            return
        _on_driver(conn, plan.sql, [_bound(plan, row)[1] for row in rows], many=True)

    def _plan_for(self, conn: Connection) -> _Plan | None:
        """The compiled plan, None where SQLAlchemy must run the statement."""
        if conn.dialect.name != "sqlite" or self._unsupported:
            return None
        return self._plan or self._compile(conn.dialect)

    def _compile(self, dialect: Dialect) -> _Plan | None:
        compiled = self.statement.compile(dialect=dialect)
        prefetch = getattr(compiled, "insert_prefetch", None) or getattr(
            compiled, "update_prefetch", None)
        if prefetch or compiled.positiontup is None:
            self._unsupported = True  # Python-side defaults: SQLAlchemy computes those
            return None
        binds = []
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            if bind.literal_execute or bind.callable is not None:  # a value per execution
                self._unsupported = True
                return None
            binds.append(_Bind(
                name=name, key=bind.key,
                processor=bind.type.dialect_impl(dialect).bind_processor(dialect),
                default=bind.effective_value, required=bind.required, expanding=bind.expanding,
            ))
        exported = list(getattr(self.statement, "exported_columns", ()))
        columns = [column.key for column in exported]
        processors = [column.type.dialect_impl(dialect).result_processor(dialect, None)
                      for column in exported]
        self._plan = _Plan(sql=compiled.string, binds=binds, columns=columns,
                           processors=processors)
        return self._plan


class Rows:
    """A fetched result: the part of SQLAlchemy's Result API the store uses."""

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        return list(self._rows)

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if len(self._rows) != 1:
            raise exc.NoResultFound("No row was found when one was required") \
                if not self._rows else exc.MultipleResultsFound("Multiple rows were found")
        return self._rows[0]

    def one_or_none(self) -> Any:
        if len(self._rows) > 1:
            raise exc.MultipleResultsFound("Multiple rows were found")
        return self.first()

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalar_one_or_none(self) -> Any:
        row = self.one_or_none()
        return None if row is None else row[0]

    def scalar(self) -> Any:
        row = self.first()
        return None if row is None else row[0]


def _on_driver(conn: Connection, sql: str, values: list[Any], *, many: bool = False,
               fetch: bool = False) -> tuple[list[Any], int]:
    """Run on the transaction's own sqlite3 connection: the rows (if `fetch`) and the row
    count; the driver's errors raised as SQLAlchemy would raise them (IntegrityError...)."""
    driver = conn.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    try:
        cursor = driver.executemany(sql, values) if many else driver.execute(sql, values)
        return (cursor.fetchall() if fetch else []), cursor.rowcount
    except sqlite3.Error as error:
        raise exc.DBAPIError.instance(sql, values, error, sqlite3.Error) from error


def _bound(plan: _Plan, parameters: Mapping[str, Any]) -> tuple[str | None, list[Any]]:
    """The SQL (IN lists expanded) and its positional values, processed."""
    values: list[Any] = []
    lengths: dict[str, int] = {}
    for bind in plan.binds:
        if bind.key in parameters:
            value = parameters[bind.key]
        elif bind.required:
            raise exc.ArgumentError(f"a value is required for bind parameter {bind.key!r}")
        else:
            value = bind.default
        processor = bind.processor
        if bind.expanding:
            items: Sequence[Any] = list(value)
            if not items:
                return None, []
            lengths[bind.name] = len(items)
            values.extend(processor(item) if processor else item for item in items)
        else:
            values.append(processor(value) if processor else value)
    if not plan.expanding:
        return plan.sql, values
    return _POSTCOMPILE.sub(lambda m: ", ".join("?" * lengths[m.group(1)]), plan.sql), values


def _row(plan: _Plan, raw: tuple[Any, ...]) -> Any:
    assert plan.row is not None and len(raw) == len(plan.processors), plan.sql
    values = list(raw)
    for index, processor in plan.converted:
        values[index] = processor(values[index])
    return plan.row._make(values)


def _row_type(columns: list[str]) -> type[Any]:
    base = namedtuple("Row", columns)  # type: ignore[misc]

    class Row(base):
        __slots__ = ()

        @property
        def _mapping(self) -> dict[str, Any]:
            return self._asdict()

    return Row
