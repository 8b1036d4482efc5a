"""API keys (stored only as keyed hashes) and server-wide facts such as the hashing secret."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError

from runplane.model import ApiKey
from runplane.store.driver_sql import Prepared
from runplane.store.tables import api_keys, instances, server_facts
from runplane.store.types import AnyRow


def _api_key(row: AnyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        instance_id=row.instance_id,
        instance_name=row.instance_name,
        role=row.role,
        description=row.description,
        created_at=row.created_at,
    )


_COLUMNS = (
    api_keys.c.id,
    api_keys.c.instance_id,
    instances.c.name.label("instance_name"),
    api_keys.c.role,
    api_keys.c.description,
    api_keys.c.created_at,
)
_JOINED = api_keys.outerjoin(instances, api_keys.c.instance_id == instances.c.id)


def insert_key(
    conn: Connection,
    *,
    key_hash: str,
    instance_id: int | None,
    role: str,
    description: str,
    now: datetime,
) -> int:
    statement = insert(api_keys).values(
        key_hash=key_hash, instance_id=instance_id, role=role,
        description=description, created_at=now,
    ).returning(api_keys.c.id)
    return int(conn.execute(statement).scalar_one())


def find_key(conn: Connection, key_hash: str) -> ApiKey | None:
    row = _KEY_BY_HASH.execute(conn, {"key_hash": key_hash}).first()
    return _api_key(row) if row else None


# Every request looks its key up: built once (see prebuilt.py).
_KEY_BY_HASH = Prepared(
    select(*_COLUMNS).select_from(_JOINED).where(api_keys.c.key_hash == bindparam("key_hash"))
)


def get_key(conn: Connection, key_id: int) -> ApiKey | None:
    """A key by its id (a batch's jobs run as the key that submitted it)."""
    query = select(*_COLUMNS).select_from(_JOINED).where(api_keys.c.id == key_id)
    row = conn.execute(query).first()
    return _api_key(row) if row else None


def count_keys(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(api_keys)).scalar_one())


def get_fact(conn: Connection, name: str) -> str | None:
    query = select(server_facts.c.value).where(server_facts.c.name == name)
    return conn.execute(query).scalar_one_or_none()


def set_fact_once(conn: Connection, name: str, value: str) -> str:
    """Store `value` unless a value is already there; answer the value that holds."""
    existing = get_fact(conn, name)
    if existing is not None:
        return existing
    try:
        with conn.begin_nested():
            conn.execute(insert(server_facts).values(name=name, value=value))
    except IntegrityError:
        # Another process stored it first (PostgreSQL); theirs holds.
        stored = get_fact(conn, name)
        assert stored is not None
        return stored
    return value
