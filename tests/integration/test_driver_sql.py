"""Hot statements on SQLite's driver (store/driver_sql.py) answer what SQLAlchemy answers.

The store's own statements are compared row for row, on both databases (on PostgreSQL
`Prepared.execute` is SQLAlchemy's execute). What the driver path must get right on its own
(IN lists, rowcount, errors, what it leaves to SQLAlchemy) is checked on a small table.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from runplane.clock import utcnow
from runplane.core import instances
from runplane.core import scripts as core_scripts
from runplane.core.context import Core
from runplane.model import ApiKey
from runplane.store import claims, queue, scripts
from runplane.store import instances as instance_store
from runplane.store import runs as run_store
from runplane.store.driver_sql import Prepared, Rows
from runplane.store.types import UTCDateTime

pytestmark = pytest.mark.anyio


def both_ways(conn: Connection, prepared: Prepared, parameters: dict[str, Any]
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    fast = [row._asdict() for row in prepared.execute(conn, parameters)]
    plain = [dict(row._mapping) for row in conn.execute(prepared.statement, parameters)]
    return fast, plain


async def test_the_store_s_reads_answer_as_sqlalchemy_does(core: Core, admin: ApiKey) -> None:
    instance = await instances.create(core, admin, {"name": "driver"})
    payload = {"text": "é", "list": [1, 2.5, None, True], "nested": {"a": {}}}

    def make(conn: Connection) -> int:
        run = run_store.insert_run(
            conn, instance_id=instance.id, kind="service", script_id=None, number=None,
            trigger="api", payload=payload, meta={"m": 1}, targets=["a", "b", None],
            max_attempts=3, now=utcnow(), max_parallel=2,
        )
        return run.id

    run_id = await core.database.write(make)

    def compare(conn: Connection) -> None:
        fast, plain = both_ways(conn, run_store._RUN_BY_ID[False], {"run_id": run_id})
        assert fast == plain and len(fast) == 1
        assert fast[0]["payload"] == payload  # JSON decoded
        assert fast[0]["created_at"].tzinfo is not None  # UTCDateTime: aware
        fast, plain = both_ways(conn, run_store._RUN_BY_ID[True], {"run_id": run_id})
        assert fast == plain
        fast, plain = both_ways(conn, claims._candidates(True, False, True), {
            "now": utcnow(), "kinds": ["service", "script"], "window": 10, "run_id": run_id,
            "blocked_runs": [run_id + 1, run_id + 2],
        })
        assert fast == plain and [row["target"] for row in fast] == ["a", "b", None]
        fast, plain = both_ways(conn, claims._SPECS, {"run_ids": [run_id]})
        assert fast == plain and fast[0]["instance_name"] == "driver"
        fast, plain = both_ways(conn, instances_by_name(), {"name": "driver"})
        assert fast == plain

    await core.database.read(compare)


def instances_by_name() -> Prepared:
    return instance_store._INSTANCE_BY_NAME


async def test_the_store_s_writes_return_what_sqlalchemy_returns(
    core: Core, admin: ApiKey
) -> None:
    instance = await instances.create(core, admin, {"name": "writes"})
    script = await core_scripts.create(
        core, admin, instance.name, {"label": "s", "source": "print(1)", "runtime_name": "python3"}
    )

    def take(conn: Connection) -> tuple[int, int]:
        first = scripts._NEXT_TRACE.execute(conn, {"script_id": script.id}).scalar_one()
        second = conn.execute(scripts._NEXT_TRACE.statement,
                              {"script_id": script.id}).scalar_one()
        return first, second

    first, second = await core.database.write(take)
    assert second == first + 1  # the same counter, advanced by both paths


@pytest.fixture
def sqlite_table(tmp_path: Path) -> Any:
    engine = create_engine(f"sqlite:///{tmp_path / 'driver.db'}")
    metadata = MetaData()
    table = Table(
        "things", metadata,
        Column("id", Integer, primary_key=True),
        Column("name", String, unique=True, nullable=False),
        Column("data", JSON),
        Column("at", UTCDateTime()),
        Column("flag", Boolean, nullable=False),
        Column("stamp", String, default=lambda: "computed"),
    )
    metadata.create_all(engine)
    yield engine, table
    engine.dispose()


def test_in_lists_rowcount_and_types_on_the_driver(sqlite_table: Any) -> None:
    engine, table = sqlite_table
    at = datetime(2026, 12, 2, 1, 2, 3, 456789, tzinfo=UTC)
    add = Prepared(insert(table).values(
        name=bindparam("n"), data=bindparam("d"), at=bindparam("a", type_=UTCDateTime()),
        flag=bindparam("f", type_=Boolean), stamp="given",
    ).returning(table.c.id, table.c.at, table.c.flag))
    pick = Prepared(select(table.c.name, table.c.data, table.c.at, table.c.flag)
                    .where(table.c.id.in_(bindparam("ids", expanding=True)))
                    .order_by(table.c.id))
    touch = Prepared(update(table).where(table.c.flag.is_(True)).values(stamp="touched"))
    with engine.begin() as conn:
        ids = []
        for index in range(3):
            rows = add.execute(conn, {"n": f"t{index}", "d": {"i": index}, "a": at,
                                      "f": index != 1})
            assert isinstance(rows, Rows)
            row = rows.one()
            assert (row.at, row.flag) == (at, index != 1)
            ids.append(row.id)
        picked = pick.execute(conn, {"ids": ids[::2]}).all()
        assert [(row.name, row.data, row.at, row.flag) for row in picked] == [
            ("t0", {"i": 0}, at, True), ("t2", {"i": 2}, at, True)]
        assert pick.execute(conn, {"ids": []}).all() == []  # SQLAlchemy's empty set
        assert touch.execute(conn).rowcount == 2
        assert picked[0]._mapping["name"] == "t0"


def test_errors_are_sqlalchemy_s_and_python_defaults_are_left_to_it(
    sqlite_table: Any,
) -> None:
    engine, table = sqlite_table
    plain_insert = Prepared(insert(table).values(name=bindparam("n"), flag=True))
    with engine.begin() as conn:
        plain_insert.execute(conn, {"n": "once"})  # stamp's default is computed in Python
        stamp = conn.execute(select(table.c.stamp)).scalar_one()
        assert stamp == "computed"
        by_name = Prepared(select(table.c.id).where(table.c.name == bindparam("n")))
        with pytest.raises(Exception, match="required"):
            by_name.execute(conn, {})
    with engine.begin() as conn, pytest.raises(IntegrityError):
        twice = Prepared(insert(table).values(name=bindparam("n"), flag=True, stamp="x"))
        twice.execute(conn, {"n": "once"})


def test_queue_statements_are_prepared() -> None:
    """The result path's statements go through the driver on SQLite."""
    for statement in (queue._TASK_ENDED, queue._SINGLE_RUN_ENDED, queue._RUN_ENDED,
                      claims._LEASE_CHOSEN, claims._RUNS_STARTED):
        assert isinstance(statement, Prepared)
