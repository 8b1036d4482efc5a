"""Credentials and the pools they serve. Secrets arrive here already encrypted (Fernet
tokens): the store never sees a plain secret nor the key."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from runplane.model import SECRET_FIELDS, Credential
from runplane.store.pools import active_filters, list_pools, membership
from runplane.store.tables import credential_pools, credentials, devices, pools
from runplane.store.time_bound import bounded, has_regex
from runplane.store.types import AnyRow

_COLUMNS = tuple(credentials.c[name] for name in (
    "id", "instance_id", "name", "description", "role", "subtype", "username", "priority",
    "created_at", "updated_at", *SECRET_FIELDS,
))


def _pool_names(conn: Connection, credential_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {credential_id: [] for credential_id in credential_ids}
    if not credential_ids:
        return found
    query = (
        select(credential_pools.c.credential_id, pools.c.name)
        .select_from(credential_pools.join(pools, pools.c.id == credential_pools.c.pool_id))
        .where(credential_pools.c.credential_id.in_(credential_ids))
        .order_by(pools.c.name)
    )
    for credential_id, name in conn.execute(query).all():
        found[credential_id].append(name)
    return found


def _records(conn: Connection, rows: Iterable[AnyRow]) -> list[Credential]:
    rows = list(rows)
    names = _pool_names(conn, [row.id for row in rows])
    made = []
    for row in rows:
        values = dict(row._mapping)
        tokens = {secret: values.pop(secret) for secret in SECRET_FIELDS}
        made.append(Credential(**values, pools=names[row.id], tokens=tokens))
    return made


def get_credential(conn: Connection, instance_id: int, name: str) -> Credential | None:
    query = select(*_COLUMNS).where(
        credentials.c.instance_id == instance_id, credentials.c.name == name
    )
    found = _records(conn, conn.execute(query).all())
    return found[0] if found else None


def list_credentials(conn: Connection, instance_id: int) -> list[Credential]:
    query = select(*_COLUMNS).where(credentials.c.instance_id == instance_id) \
        .order_by(credentials.c.name)
    return _records(conn, conn.execute(query).all())


def insert_credential(conn: Connection, instance_id: int, fields: Mapping[str, Any],
                      now: datetime) -> int:
    statement = insert(credentials).values(
        instance_id=instance_id, created_at=now, updated_at=now, **fields
    ).returning(credentials.c.id)
    return int(conn.execute(statement).scalar_one())


def update_credential(conn: Connection, credential_id: int, fields: Mapping[str, Any],
                      now: datetime) -> None:
    conn.execute(update(credentials).where(credentials.c.id == credential_id)
                 .values(**fields, updated_at=now))


def set_pools(conn: Connection, credential_id: int, pool_ids: Iterable[int]) -> None:
    """Replace the pools a credential serves."""
    conn.execute(delete(credential_pools).where(credential_pools.c.credential_id == credential_id))
    rows = [{"credential_id": credential_id, "pool_id": pool_id}
            for pool_id in sorted(set(pool_ids))]
    if rows:
        conn.execute(insert(credential_pools), rows)


def delete_credential(conn: Connection, credential_id: int) -> None:
    conn.execute(delete(credentials).where(credentials.c.id == credential_id))


def serving_device(conn: Connection, instance_id: int, device_id: int) -> list[Credential]:
    """The credentials one of whose pools (manual or filter, as of now) holds the device."""
    served = {row.pool_id for row in conn.execute(
        select(credential_pools.c.pool_id)
        .join(credentials, credentials.c.id == credential_pools.c.credential_id)
        .where(credentials.c.instance_id == instance_id)
    )}
    holding: list[int] = []
    for pool in list_pools(conn, instance_id):
        if pool.id not in served:
            continue
        query = select(devices.c.id).where(
            devices.c.id == device_id, membership(conn.dialect.name, pool)
        )
        with bounded(conn, needed=has_regex(active_filters(pool))):
            if conn.execute(query).first() is not None:
                holding.append(pool.id)
    if not holding:
        return []
    query = select(*_COLUMNS).where(
        credentials.c.instance_id == instance_id,
        credentials.c.id.in_(select(credential_pools.c.credential_id)
                             .where(credential_pools.c.pool_id.in_(holding))),
    ).order_by(credentials.c.name)
    return _records(conn, conn.execute(query).all())


# Rotation: every stored token, each table row at a time -------------------------------

def all_tokens(conn: Connection) -> list[tuple[int, dict[str, str]]]:
    """Every credential's tokens, of every instance: (id, {field: token})."""
    query = select(credentials.c.id, *(credentials.c[name] for name in SECRET_FIELDS)) \
        .order_by(credentials.c.id)
    return [(row.id, {name: row._mapping[name] for name in SECRET_FIELDS})
            for row in conn.execute(query).all()]


def set_tokens(conn: Connection, credential_id: int, tokens: Mapping[str, str]) -> None:
    """Replace a credential's tokens (re-encrypted): its updated_at stays, nothing changed."""
    conn.execute(update(credentials).where(credentials.c.id == credential_id).values(**tokens))
