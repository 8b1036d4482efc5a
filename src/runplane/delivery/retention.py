"""Retention: finished batches (with their answers) and settled callbacks are kept
`batch_retention_seconds` (2 days by default), then deleted; a pruned batch is not found."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import Connection

from runplane.clock import utcnow
from runplane.core.context import Core
from runplane.store import batches as batch_store
from runplane.store import outbox as outbox_store

log = logging.getLogger("runplane.delivery")


async def prune(core: Core) -> tuple[int, int]:
    """Delete what expired; answers (batches, callbacks) deleted."""
    before = utcnow() - timedelta(seconds=core.settings.batch_retention_seconds)

    def prune_both(conn: Connection) -> tuple[int, int]:
        return batch_store.prune(conn, before=before), outbox_store.prune(conn, before=before)

    batches, callbacks = await core.database.write(prune_both)
    if batches or callbacks:
        log.info("pruned %d expired batch(es) and %d settled callback(s)", batches, callbacks)
    return batches, callbacks
