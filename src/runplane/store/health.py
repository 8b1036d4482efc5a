"""A cheap round trip to the database, for health checks."""

from __future__ import annotations

from sqlalchemy import Connection, text


def ping(conn: Connection) -> bool:
    return bool(conn.execute(text("SELECT 1")).scalar_one() == 1)
