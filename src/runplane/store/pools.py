"""Pools: manual member lists or property filters, and the devices they stand for."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, exists, insert, literal, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import ColumnElement

from runplane.errors import Invalid
from runplane.model import Pool, Target
from runplane.store.devices import chunks, count_devices, find_targets, one_of
from runplane.store.filters import PropertyFilter, all_of
from runplane.store.tables import devices, pool_members, pools
from runplane.store.time_bound import bounded, has_regex, timeout_ms
from runplane.store.types import AnyRow

_COLUMNS = tuple(pools.c[name] for name in (
    "id", "instance_id", "name", "description", "manually_defined", "filters",
    "created_at", "updated_at",
))


def _pool(row: AnyRow) -> Pool:
    return Pool(**row._mapping)


def active_filters(pool: Pool) -> list[PropertyFilter]:
    """A pool's stored filters as records (stored already validated, empty ones dropped)."""
    return [
        PropertyFilter(
            property=name, value=str(spec.get("value", "")),
            match=str(spec.get("match", "inclusion")), invert=bool(spec.get("invert", False)),
        )
        for name, spec in sorted(pool.filters.items())
    ]


def membership(dialect: str, pool: Pool) -> ColumnElement[bool]:
    """The condition a device of the pool's instance meets to belong to the pool."""
    if pool.manually_defined:
        return exists().where(
            pool_members.c.pool_id == pool.id, pool_members.c.device_id == devices.c.id
        )
    return all_of(dialect, active_filters(pool))


def get_pool(conn: Connection, instance_id: int, name: str) -> Pool | None:
    query = select(*_COLUMNS).where(pools.c.instance_id == instance_id, pools.c.name == name)
    row = conn.execute(query).first()
    return _pool(row) if row else None


def pools_named(conn: Connection, instance_id: int, names: Iterable[str]
                      ) -> list[Pool]:
    found: list[Pool] = []
    for part in chunks(sorted(set(names))):
        query = select(*_COLUMNS).where(
            pools.c.instance_id == instance_id, one_of(conn, pools.c.name, part)
        )
        found += [_pool(row) for row in conn.execute(query).all()]
    return found


def list_pools(conn: Connection, instance_id: int) -> list[Pool]:
    query = select(*_COLUMNS).where(pools.c.instance_id == instance_id).order_by(pools.c.id)
    return [_pool(row) for row in conn.execute(query).all()]


def insert_pool(
    conn: Connection, *, instance_id: int, fields: dict[str, Any], now: datetime
) -> Pool:
    statement = insert(pools).values(
        instance_id=instance_id, created_at=now, updated_at=now, **fields
    ).returning(*_COLUMNS)
    return _pool(conn.execute(statement).one())


def update_pool(
    conn: Connection, pool_id: int, fields: dict[str, Any], now: datetime
) -> Pool:
    statement = (
        update(pools).where(pools.c.id == pool_id)
        .values(**fields, updated_at=now).returning(*_COLUMNS)
    )
    return _pool(conn.execute(statement).one())


def set_members(conn: Connection, pool_id: int, device_ids: Iterable[int]) -> None:
    """Replace a manual pool's members (none, for a pool that became a filter pool)."""
    conn.execute(delete(pool_members).where(pool_members.c.pool_id == pool_id))
    rows = [{"pool_id": pool_id, "device_id": device_id} for device_id in sorted(set(device_ids))]
    if rows:
        conn.execute(insert(pool_members), rows)


def member_ids(conn: Connection, pool_id: int) -> set[int]:
    query = select(pool_members.c.device_id).where(pool_members.c.pool_id == pool_id)
    return set(conn.execute(query).scalars().all())


def member_names(conn: Connection, pool_id: int) -> list[str]:
    query = (
        select(devices.c.name)
        .select_from(pool_members.join(devices, devices.c.id == pool_members.c.device_id))
        .where(pool_members.c.pool_id == pool_id)
    )
    return sorted(conn.execute(query).scalars().all())


def delete_pool(conn: Connection, pool_id: int) -> None:
    conn.execute(delete(pools).where(pools.c.id == pool_id))


def pool_targets(
    conn: Connection, instance_id: int, chosen: Sequence[Pool]
) -> list[Target]:
    """Every device in any of `chosen`, each once, as a run's targets: one query whatever
    the number of pools."""
    if not chosen:
        return []
    dialect = conn.dialect.name
    where = or_(*(membership(dialect, pool) for pool in chosen))
    with bounded(conn, needed=any(has_regex(active_filters(pool)) for pool in chosen)):
        return find_targets(conn, instance_id, where)


def pool_device_names(conn: Connection, instance_id: int, pool: Pool) -> list[str]:
    """The names of the devices a pool holds now, sorted (a filter pool's are computed)."""
    query = select(devices.c.name).where(
        devices.c.instance_id == instance_id, membership(conn.dialect.name, pool)
    ).order_by(devices.c.name)
    with bounded(conn, needed=has_regex(active_filters(pool))):
        return list(conn.execute(query).scalars().all())


def pools_holding(conn: Connection, instance_id: int, device_id: int) -> list[str]:
    """The names of the pools (manual or filter) that hold the device now, sorted."""
    held = []
    for pool in list_pools(conn, instance_id):
        query = select(devices.c.id).where(
            devices.c.id == device_id, membership(conn.dialect.name, pool)
        )
        with bounded(conn, needed=has_regex(active_filters(pool))):
            if conn.execute(query).first() is not None:
                held.append(pool.name)
    return sorted(held)


def count_pool_devices(conn: Connection, instance_id: int, pool: Pool) -> int:
    with bounded(conn, needed=has_regex(active_filters(pool))):
        return count_devices(conn, instance_id, membership(conn.dialect.name, pool))


def regex_accepted(conn: Connection, pattern: str) -> str | None:
    """None if the database can match `pattern`, else its complaint (PostgreSQL's ~ has its
    own regex dialect; on SQLite, Python's re does the matching and checked it already)."""
    if conn.dialect.name != "postgresql":
        return None
    try:
        # Compiling alone takes PostgreSQL seconds for some patterns RE2 runs at once.
        with conn.begin_nested(), bounded(conn):
            conn.execute(select(literal("").regexp_match(pattern)))
    except Invalid:  # bounded: the compilation outlasted the statement timeout
        return (f"PostgreSQL took more than {timeout_ms(conn)} ms to compile it (use fewer "
                f"nested or counted repetitions)")
    except DBAPIError as error:
        return str(error.orig).strip().splitlines()[0]
    return None
