"""Instances (tenants) and their per-instance counters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from runplane.errors import Conflict
from runplane.model import Instance, Page
from runplane.store.driver_sql import Prepared
from runplane.store.paging import fetch_page
from runplane.store.tables import instances
from runplane.store.types import AnyRow


def _instance(row: AnyRow) -> Instance:
    return Instance(
        id=row.id,
        name=row.name,
        description=row.description,
        metadata=row.extra_metadata,
        config=row.config,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


_COLUMNS = (
    instances.c.id,
    instances.c.name,
    instances.c.description,
    instances.c.extra_metadata,
    instances.c.config,
    instances.c.created_at,
    instances.c.updated_at,
)


def insert_instance(
    conn: Connection,
    *,
    name: str,
    description: str,
    metadata: dict[str, Any],
    config: dict[str, Any],
    now: datetime,
) -> Instance:
    statement = (
        insert(instances)
        .values(
            name=name,
            description=description,
            extra_metadata=metadata,
            config=config,
            created_at=now,
            updated_at=now,
        )
        .returning(*_COLUMNS)
    )
    try:
        row = conn.execute(statement).one()
    except IntegrityError as error:
        raise Conflict("name", "Instance with this name already exists.") from error
    return _instance(row)


def insert_instance_if_absent(
    conn: Connection, *, name: str, description: str, now: datetime
) -> bool:
    """Make an empty instance unless one of that name exists; True if this call made it.

    One statement (INSERT ... ON CONFLICT DO NOTHING), so of two processes doing it at once
    one makes the row and the other finds it, without an error on either database."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(instances)
        .values(name=name, description=description, extra_metadata={}, config={},
                created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=[instances.c.name])
        .returning(instances.c.id)
    )
    # A row back means this statement made it (rowcount is -1 on PostgreSQL here).
    return conn.execute(statement).first() is not None


def get_instance(conn: Connection, name: str) -> Instance | None:
    row = _INSTANCE_BY_NAME.execute(conn, {"name": name}).first()
    return _instance(row) if row else None


_INSTANCE_BY_NAME = Prepared(select(*_COLUMNS).where(instances.c.name == bindparam("name")))


def list_instances(
    conn: Connection,
    *,
    only_id: int | None,
    after: int | None,
    limit: int,
    descending: bool,
) -> Page[Instance]:
    query = select(*_COLUMNS)
    if only_id is not None:
        query = query.where(instances.c.id == only_id)
    return fetch_page(
        conn, query, instances.c.id,
        after=after, limit=limit, descending=descending, convert=_instance,
    )


def update_instance(
    conn: Connection, instance_id: int, changes: dict[str, Any], now: datetime
) -> Instance:
    values = {("extra_metadata" if key == "metadata" else key): value
              for key, value in changes.items()}
    statement = (
        update(instances)
        .where(instances.c.id == instance_id)
        .values(**values, updated_at=now)
        .returning(*_COLUMNS)
    )
    return _instance(conn.execute(statement).one())


def delete_instance(conn: Connection, instance_id: int) -> None:
    conn.execute(delete(instances).where(instances.c.id == instance_id))


def next_script_number(conn: Connection, instance_id: int) -> int:
    """Atomically take the next per-instance script id (a row lock on PostgreSQL)."""
    statement = (
        update(instances)
        .where(instances.c.id == instance_id)
        .values(script_seq=instances.c.script_seq + 1)
        .returning(instances.c.script_seq)
    )
    return int(conn.execute(statement).scalar_one())
