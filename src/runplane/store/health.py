"""A cheap round trip to the database, for health checks."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


async def ping(conn: AsyncConnection) -> bool:
    return (await conn.execute(text("SELECT 1"))).scalar_one() == 1
