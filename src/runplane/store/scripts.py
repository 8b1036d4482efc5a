"""Scripts and script endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from runplane.errors import Conflict
from runplane.model import Page, Script, ScriptEndpoint
from runplane.store.driver_sql import Prepared
from runplane.store.paging import fetch_page
from runplane.store.tables import script_endpoints, scripts
from runplane.store.types import AnyRow

_SCRIPT_COLUMNS = tuple(scripts.c[name] for name in (
    "id", "instance_id", "number", "label", "description", "source", "runtime_name",
    "config", "created_at", "updated_at",
))


def _script(row: AnyRow) -> Script:
    # Every query of a script selects exactly _SCRIPT_COLUMNS, named as Script's fields.
    return Script(**row._asdict())


def insert_script(
    conn: Connection, *, instance_id: int, number: int, fields: dict[str, Any], now: datetime
) -> Script:
    statement = insert(scripts).values(
        instance_id=instance_id, number=number, created_at=now, updated_at=now, **fields
    ).returning(*_SCRIPT_COLUMNS)
    return _script(conn.execute(statement).one())


def get_script(conn: Connection, instance_id: int, number: int) -> Script | None:
    row = _SCRIPT_BY_NUMBER.execute(conn, {"instance_id": instance_id, "number": number}).first()
    return _script(row) if row else None


_SCRIPT_BY_NUMBER = Prepared(select(*_SCRIPT_COLUMNS).where(
    scripts.c.instance_id == bindparam("instance_id"), scripts.c.number == bindparam("number")
))


def list_scripts(
    conn: Connection, instance_id: int, *, after: int | None, limit: int, descending: bool
) -> Page[Script]:
    query = select(*_SCRIPT_COLUMNS).where(scripts.c.instance_id == instance_id)
    return fetch_page(
        conn, query, scripts.c.number,
        after=after, limit=limit, descending=descending, convert=_script,
    )


def update_script(
    conn: Connection, script_id: int, fields: dict[str, Any], now: datetime
) -> Script:
    statement = (
        update(scripts).where(scripts.c.id == script_id)
        .values(**fields, updated_at=now).returning(*_SCRIPT_COLUMNS)
    )
    return _script(conn.execute(statement).one())


def delete_script(conn: Connection, script_id: int) -> None:
    conn.execute(delete(scripts).where(scripts.c.id == script_id))


def next_trace_number(conn: Connection, script_id: int) -> int:
    """Atomically take the next per-script trace id (a row lock on PostgreSQL)."""
    return int(_NEXT_TRACE.execute(conn, {"script_id": script_id}).scalar_one())


_NEXT_TRACE = Prepared(
    update(scripts).where(scripts.c.id == bindparam("script_id"))
    .values(trace_seq=scripts.c.trace_seq + 1).returning(scripts.c.trace_seq)
)


# Script endpoints --------------------------------------------------------------------------

_ENDPOINT_COLUMNS = (
    *(script_endpoints.c[name] for name in (
        "id", "instance_id", "name", "script_id", "description", "public", "public_link",
        "created_at", "updated_at",
    )),
    scripts.c.number.label("script_number"),
)
_ENDPOINTS_JOINED = script_endpoints.join(scripts, script_endpoints.c.script_id == scripts.c.id)


def _endpoint(row: AnyRow) -> ScriptEndpoint:
    return ScriptEndpoint(**dict(row._mapping))


def insert_endpoint(
    conn: Connection, *, instance_id: int, fields: dict[str, Any], now: datetime
) -> ScriptEndpoint:
    statement = insert(script_endpoints).values(
        instance_id=instance_id, created_at=now, updated_at=now, **fields
    ).returning(script_endpoints.c.id)
    try:
        endpoint_id = conn.execute(statement).scalar_one()
    except IntegrityError as error:
        raise Conflict("name", "Script endpoint with this name already exists.") from error
    return _get_endpoint_by(conn, script_endpoints.c.id == endpoint_id)


def _get_endpoint_by(conn: Connection, *conditions: Any) -> ScriptEndpoint:
    query = select(*_ENDPOINT_COLUMNS).select_from(_ENDPOINTS_JOINED).where(*conditions)
    return _endpoint(conn.execute(query).one())


def get_endpoint(
    conn: Connection, instance_id: int, name: str
) -> ScriptEndpoint | None:
    row = conn.execute(_ENDPOINT_BY_NAME, {"instance_id": instance_id, "name": name}).first()
    return _endpoint(row) if row else None


_ENDPOINT_BY_NAME = select(*_ENDPOINT_COLUMNS).select_from(_ENDPOINTS_JOINED).where(
    script_endpoints.c.instance_id == bindparam("instance_id"),
    script_endpoints.c.name == bindparam("name"),
)


def list_endpoints(
    conn: Connection, instance_id: int, *, after: int | None, limit: int, descending: bool
) -> Page[ScriptEndpoint]:
    query = select(*_ENDPOINT_COLUMNS).select_from(_ENDPOINTS_JOINED).where(
        script_endpoints.c.instance_id == instance_id
    )
    return fetch_page(
        conn, query, script_endpoints.c.id,
        after=after, limit=limit, descending=descending, convert=_endpoint,
    )


def update_endpoint(
    conn: Connection, endpoint_id: int, fields: dict[str, Any], now: datetime
) -> ScriptEndpoint:
    conn.execute(
        update(script_endpoints).where(script_endpoints.c.id == endpoint_id)
        .values(**fields, updated_at=now)
    )
    return _get_endpoint_by(conn, script_endpoints.c.id == endpoint_id)


def delete_endpoint(conn: Connection, endpoint_id: int) -> None:
    conn.execute(delete(script_endpoints).where(script_endpoints.c.id == endpoint_id))


def get_public_endpoint(
    conn: Connection, instance_id: int, public_link: str, name: str
) -> ScriptEndpoint | None:
    query = select(*_ENDPOINT_COLUMNS).select_from(_ENDPOINTS_JOINED).where(
        script_endpoints.c.instance_id == instance_id,
        script_endpoints.c.public_link == public_link,
        script_endpoints.c.name == name,
        script_endpoints.c.public.is_(True),
    )
    row = conn.execute(query).first()
    return _endpoint(row) if row else None
