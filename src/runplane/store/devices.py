"""Devices: the inventory of one instance, read and written in bulk."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    String,
    Text,
    any_,
    cast,
    delete,
    func,
    literal,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnElement

from runplane.model import DEVICE_COLUMNS, Device, Target
from runplane.store import device_writes as writes
from runplane.store.bulk import collector_paused
from runplane.store.filters import PropertyFilter, all_of, property_text
from runplane.store.tables import devices
from runplane.store.time_bound import bounded, has_regex

T = TypeVar("T")

# Names per IN list: SQLite allows 999 (older builds) or 32766 bound parameters.
CHUNK = 500
# Inventory writes of one instance are serialised on PostgreSQL by this advisory lock
# (class, instance id), so two bulk imports never race on the same new name.
PG_INVENTORY_LOCK_CLASS = 72_150_004
EDITABLE = (
    "ip_address", "vendor", "model", "operating_system", "os_version", "location",
    "description", "port",
)
DEFAULTS: dict[str, Any] = {name: "" for name in EDITABLE} | {"port": None}

_COLUMNS = tuple(devices.c[name] for name in (
    "id", "instance_id", "name", *EDITABLE, "properties", "created_at", "updated_at",
))


@dataclass(frozen=True)
class DeviceInput:
    """A validated create-or-update: only the given columns and properties change."""

    name: str
    columns: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class UpsertCounts:
    created: int
    updated: int
    unchanged: int


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# Read as the driver gives them and converted in bulk below: SQLAlchemy's per-value
# processing of JSON and SQLite datetimes costs more than the query itself when a pool holds
# 100,000 devices. Properties come as text (a cast: psycopg would decode json row by row).
_SELECTED = tuple(
    cast(column, Text).label(column.name) if column.name == "properties"
    else type_coerce(column, String).label(column.name) if column.name in ("created_at",
                                                                           "updated_at")
    else column
    for column in _COLUMNS
)


def _when(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite: naive UTC text
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    stored: datetime = value
    return stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored.astimezone(UTC)


def _devices(rows: Sequence[Sequence[Any]]) -> list[Device]:
    # One json.loads for all the rows' properties, and each distinct timestamp parsed once
    # (a bulk import gives thousands of devices the same one).
    properties = json.loads("[" + ",".join(row[11] for row in rows) + "]") if rows else []
    times: dict[Any, datetime] = {}
    found = []
    for row, extra in zip(rows, properties, strict=True):
        created, updated = row[12], row[13]
        if created not in times:
            times[created] = _when(created)
        if updated not in times:
            times[updated] = _when(updated)
        # Positional from the row: the columns are selected in the record's field order.
        found.append(Device(*row[:11], extra, times[created], times[updated]))  # type: ignore[call-arg]
    return found


# A run's targets: what `Device.attributes` gives, read straight into it (no Device between).
_TARGET_SELECTED = (devices.c.id, *(devices.c[name] for name in DEVICE_COLUMNS),
                    cast(devices.c.properties, Text))


def find_targets(conn: Connection, instance_id: int, where: ColumnElement[bool]
                 ) -> list[Target]:
    """The devices of the instance matching `where`, as run targets (a pool may hold all
    100,000 of an inventory: this builds each one's attributes once, and nothing else)."""
    query = select(*_TARGET_SELECTED).where(devices.c.instance_id == instance_id, where)
    result = conn.execute(query)
    with collector_paused():
        try:
            rows = result.cursor.fetchall()
        finally:
            result.close()
        if not rows:
            return []
        properties = json.loads("[" + ",".join([row[-1] for row in rows]) + "]")
        names = DEVICE_COLUMNS
        found = []
        for row, attributes in zip(rows, properties, strict=True):
            attributes.update(zip(names, row[1:-1], strict=True))
            attributes["id"] = row[0]
            found.append(Target(row[0], row[1], row[2], attributes))
        return found


def lock_inventory(conn: Connection, instance_id: int) -> None:
    """Serialise inventory writes of one instance (SQLite's BEGIN IMMEDIATE already does)."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            select(func.pg_advisory_xact_lock(PG_INVENTORY_LOCK_CLASS, instance_id))
        )


def find_devices(
    conn: Connection, instance_id: int, where: ColumnElement[bool], *,
    order: Sequence[tuple[str, bool]] = (), offset: int = 0, limit: int | None = None,
) -> list[Device]:
    """Devices of the instance matching `where`, in `order` ((property, descending)...)."""
    query = select(*_SELECTED).where(devices.c.instance_id == instance_id, where)
    if order or offset or limit is not None:
        dialect = conn.dialect.name
        keys = [_sort_key(dialect, name, descending) for name, descending in order]
        query = query.order_by(*keys, devices.c.name.collate(_binary(dialect)))
        query = query.offset(offset).limit(limit)
    result = conn.execute(query)
    with collector_paused():
        try:
            # The driver's own tuples: every column is selected as the driver gives it (see
            # _SELECTED), so SQLAlchemy's rows would only add a second pass over 100,000.
            return _devices(result.cursor.fetchall())
        finally:
            result.close()


def one_of(conn: Connection, column: ColumnElement[str], names: Sequence[str]
           ) -> ColumnElement[bool]:
    """`column IN names`. On PostgreSQL one array parameter, `= ANY($1)`: a list of bound
    parameters is no constant, so its IN would compare every row with every name in turn
    (seconds for 500 names over 100,000 devices) instead of using the index."""
    if conn.dialect.name == "postgresql":
        return column == any_(literal(list(names), ARRAY(String)))
    return column.in_(names)


def _binary(dialect: str) -> str:
    # Code point order on both databases (PostgreSQL's default collation follows the locale).
    return "C" if dialect == "postgresql" else "BINARY"


def _sort_key(dialect: str, name: str, descending: bool) -> ColumnElement[Any]:
    key: ColumnElement[Any]
    if name == "port":
        key = func.coalesce(devices.c.port, 0)
    else:
        key = property_text(dialect, name).collate(_binary(dialect))
    return key.desc() if descending else key.asc()


def filter_devices(
    conn: Connection, instance_id: int, filters: list[PropertyFilter], *,
    order: Sequence[tuple[str, bool]] = (), offset: int = 0, limit: int | None = None,
) -> list[Device]:
    where = all_of(conn.dialect.name, filters)
    with bounded(conn, needed=has_regex(filters)):
        return find_devices(conn, instance_id, where, order=order, offset=offset, limit=limit)


def count_devices(conn: Connection, instance_id: int, where: ColumnElement[bool]
                        ) -> int:
    query = select(func.count()).select_from(devices).where(
        devices.c.instance_id == instance_id, where
    )
    return int(conn.execute(query).scalar_one())


def get_device(conn: Connection, instance_id: int, name: str) -> Device | None:
    found = find_devices(conn, instance_id, devices.c.name == name)
    return found[0] if found else None


def devices_named(
    conn: Connection, instance_id: int, names: Iterable[str]
) -> list[Device]:
    """The devices among `names` that exist (any number of names, queried in chunks)."""
    found: list[Device] = []
    for part in chunks(sorted(set(names))):
        found += find_devices(conn, instance_id, one_of(conn, devices.c.name, part))
    return found


def devices_at(
    conn: Connection, instance_id: int, addresses: Iterable[str]
) -> list[Device]:
    """Every device whose ip_address is one of `addresses`."""
    found: list[Device] = []
    for part in chunks(sorted(set(addresses))):
        found += find_devices(conn, instance_id, one_of(conn, devices.c.ip_address, part))
    return found


def device_ids(
    conn: Connection, instance_id: int, names: Iterable[str]
) -> dict[str, int]:
    """name -> id for the names that exist."""
    ids: dict[str, int] = {}
    for part in chunks(sorted(set(names))):
        query = select(devices.c.name, devices.c.id).where(
            devices.c.instance_id == instance_id, one_of(conn, devices.c.name, part)
        )
        ids.update({row.name: row.id for row in conn.execute(query).all()})
    return ids


def _merged(items: Iterable[DeviceInput]) -> dict[str, DeviceInput]:
    """One input per name: a later mention of a name updates the earlier one."""
    merged: dict[str, DeviceInput] = {}
    for item in items:
        before = merged.get(item.name)
        if before is not None:
            item = DeviceInput(
                item.name, {**before.columns, **item.columns},
                {**before.properties, **item.properties},
            )
        merged[item.name] = item
    return merged


def upsert_devices(
    conn: Connection, instance_id: int, items: Sequence[DeviceInput], now: datetime
) -> UpsertCounts:
    """Create or update by name, all in the caller's transaction, in a few statements.

    An update changes only what the input gives: other columns stay, custom properties
    are merged. Unchanged devices are not written (their updated_at stays).
    """
    lock_inventory(conn, instance_id)
    merged = _merged(items)
    existing = {device.name: device for device in devices_named(conn, instance_id, merged)}
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for name, item in merged.items():
        device = existing.get(name)
        if device is None:
            inserts.append({"name": name, **DEFAULTS, **item.columns,
                            "properties": item.properties})
            continue
        columns = {column: getattr(device, column) for column in EDITABLE} | item.columns
        properties = {**device.properties, **item.properties}
        if properties == device.properties and all(
            getattr(device, column) == value for column, value in columns.items()
        ):
            continue
        updates.append({"id": device.id, **columns, "properties": properties})
    if inserts:
        writes.insert_rows(conn, instance_id, inserts, now)
    if updates:
        writes.update_rows(conn, updates, now)
    unchanged = len(merged) - len(inserts) - len(updates)
    return UpsertCounts(created=len(inserts), updated=len(updates), unchanged=unchanged)


def delete_device(conn: Connection, device_id: int) -> None:
    conn.execute(delete(devices).where(devices.c.id == device_id))
