"""Writing many device rows in few statements.

SQLite: executemany (one C loop in the driver, no round trips). PostgreSQL: one statement per
batch whose rows come as one array per column through `unnest`: executemany there pays a
round trip per row, and a VALUES list of thousands of bound parameters costs seconds to
compile; eleven array parameters cost nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, text, update

from runplane.store.tables import devices

# The columns a write gives, in order, and their PostgreSQL array types for unnest.
TEXT_COLUMNS = (
    "ip_address", "vendor", "model", "operating_system", "os_version", "location",
    "description",
)
ARRAY_TYPES = {"id": "BIGINT[]", "name": "VARCHAR[]", **dict.fromkeys(TEXT_COLUMNS, "VARCHAR[]"),
               "port": "INTEGER[]", "properties": "TEXT[]"}
# Rows per statement on PostgreSQL (bounds the size of one message, not its parameters).
BATCH = 5000
# Rows inserted at once past which PostgreSQL's statistics are refreshed.
ANALYZE_AFTER_INSERTS = 1000


def _given(columns: Sequence[str]) -> str:
    arrays = ", ".join(f"CAST(:{name} AS {ARRAY_TYPES[name]})" for name in columns)
    return f"unnest({arrays}) AS given({', '.join(columns)})"


def _arrays(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> dict[str, list[Any]]:
    arrays: dict[str, list[Any]] = {name: [row[name] for row in rows] for name in columns}
    arrays["properties"] = [json.dumps(value) for value in arrays["properties"]]
    return arrays


_INSERTED = ("name", *TEXT_COLUMNS, "port", "properties")
_INSERT_SQL = text(
    f"INSERT INTO devices (instance_id, {', '.join(_INSERTED)}, created_at, updated_at) "
    f"SELECT :instance_id, {', '.join(_INSERTED[:-1])}, CAST(properties AS JSON), :now, :now "
    f"FROM {_given(_INSERTED)}"
).bindparams(bindparam("now", type_=devices.c.created_at.type))

_UPDATED = ("id", *TEXT_COLUMNS, "port", "properties")
_UPDATE_SQL = text(
    "UPDATE devices SET "
    + ", ".join(f"{name} = given.{name}" for name in (*TEXT_COLUMNS, "port"))
    + ", properties = CAST(given.properties AS JSON), updated_at = :now "
    f"FROM {_given(_UPDATED)} WHERE devices.id = given.id"
).bindparams(bindparam("now", type_=devices.c.updated_at.type))


def insert_rows(
    conn: Connection, instance_id: int, rows: Sequence[dict[str, Any]], now: datetime
) -> None:
    """Insert full rows (every column of `_INSERTED`), all created `now`."""
    if conn.dialect.name != "postgresql":
        conn.execute(insert(devices), [
            {**row, "instance_id": instance_id, "created_at": now, "updated_at": now}
            for row in rows
        ])
        return
    for start in range(0, len(rows), BATCH):
        part = rows[start:start + BATCH]
        conn.execute(_INSERT_SQL, {"instance_id": instance_id, "now": now,
                                         **_arrays(part, _INSERTED)})
    if len(rows) >= ANALYZE_AFTER_INSERTS:
        # Fresh statistics: with the table believed empty, PostgreSQL plans lookups by name
        # as a scan of the whole instance, fifty times slower than through the index.
        conn.execute(text("ANALYZE devices"))


def update_rows(conn: Connection, rows: Sequence[dict[str, Any]], now: datetime
                      ) -> None:
    """Overwrite full rows by `id` (every column of `_UPDATED`), all updated `now`."""
    if conn.dialect.name != "postgresql":
        conn.execute(
            update(devices).where(devices.c.id == bindparam("_id")),
            [{**{k: v for k, v in row.items() if k != "id"}, "_id": row["id"],
              "updated_at": now} for row in rows],
        )
        return
    for start in range(0, len(rows), BATCH):
        part = rows[start:start + BATCH]
        conn.execute(_UPDATE_SQL, {"now": now, **_arrays(part, _UPDATED)})
