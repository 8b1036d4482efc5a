"""Deleting what is kept only for a while: finished batches and settled callbacks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from runplane.store import batches, outbox


def prune(conn: Connection, *, before: datetime) -> tuple[int, int]:
    """Delete batches finished and callbacks settled before `before`; how many of each."""
    return batches.prune(conn, before=before), outbox.prune(conn, before=before)
