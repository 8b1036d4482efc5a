"""A run's log lines: appended as targets finish, read from an offset to tail them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from runplane.model import LogLine
from runplane.store.tables import run_logs

MESSAGE_MAX_CHARS = 8192


def append(
    conn: Connection,
    run_id: int,
    lines: Sequence[dict[str, Any]],
    *,
    task_id: int | None = None,
    source: str = "",
    now: datetime,
) -> None:
    """Add lines ({"severity", "message", "time"?}) in one statement."""
    if not lines:
        return
    conn.execute(insert(run_logs), [
        {
            "run_id": run_id,
            "task_id": task_id,
            "created_at": line.get("at") or now,
            "severity": str(line.get("severity", "info"))[:16],
            "source": source[:256],
            "message": str(line.get("message", ""))[:MESSAGE_MAX_CHARS],
        }
        for line in lines
    ])


def read(
    conn: Connection, run_id: int, *, after: int, limit: int
) -> list[LogLine]:
    query = (
        select(run_logs.c.id, run_logs.c.created_at, run_logs.c.severity, run_logs.c.source,
               run_logs.c.message)
        .where(run_logs.c.run_id == run_id, run_logs.c.id > after)
        .order_by(run_logs.c.id)
        .limit(limit)
    )
    return [LogLine(**dict(row._mapping)) for row in conn.execute(query).all()]
