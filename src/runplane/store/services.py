"""Services: named things to run over targets (the service door)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from runplane.errors import Conflict
from runplane.model import Page, Service
from runplane.store.paging import fetch_page
from runplane.store.tables import services
from runplane.store.types import AnyRow

_COLUMNS = tuple(services.c[name] for name in Service.__dataclass_fields__)


def _service(row: AnyRow) -> Service:
    return Service(**dict(row._mapping))


def insert_service(
    conn: Connection, *, instance_id: int, fields: dict[str, Any], now: datetime
) -> Service:
    statement = insert(services).values(
        instance_id=instance_id, created_at=now, updated_at=now, **fields
    ).returning(*_COLUMNS)
    try:
        return _service(conn.execute(statement).one())
    except IntegrityError as error:
        raise Conflict("name", "A service with this name already exists.") from error


def get_service(conn: Connection, instance_id: int, name: str) -> Service | None:
    query = select(*_COLUMNS).where(services.c.instance_id == instance_id, services.c.name == name)
    row = conn.execute(query).first()
    return _service(row) if row else None


def get_service_by_id(conn: Connection, service_id: int) -> Service | None:
    row = conn.execute(select(*_COLUMNS).where(services.c.id == service_id)).first()
    return _service(row) if row else None


def list_services(
    conn: Connection, instance_id: int, *, after: int | None, limit: int,
    filters: dict[str, Any] | None = None,
) -> Page[Service]:
    query = select(*_COLUMNS).where(services.c.instance_id == instance_id)
    for name, value in (filters or {}).items():
        query = query.where(services.c[name] == value)
    return fetch_page(
        conn, query, services.c.id, after=after, limit=limit, descending=False, convert=_service
    )


def update_service(
    conn: Connection, service_id: int, fields: dict[str, Any], now: datetime
) -> Service:
    statement = (
        update(services).where(services.c.id == service_id)
        .values(**fields, updated_at=now).returning(*_COLUMNS)
    )
    return _service(conn.execute(statement).one())


def delete_service(conn: Connection, service_id: int) -> None:
    conn.execute(delete(services).where(services.c.id == service_id))
