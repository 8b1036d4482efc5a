"""Retention: finished batches (with their answers) and settled callbacks are kept
`batch_retention_seconds` (2 days by default), then deleted; a pruned batch is not found."""

from __future__ import annotations

import logging
from datetime import timedelta

from runplane.clock import utcnow
from runplane.settings import Settings
from runplane.store import retention as store
from runplane.store.database import Database

log = logging.getLogger("runplane.delivery")


async def prune(database: Database, settings: Settings) -> tuple[int, int]:
    """Delete what expired; answers (batches, callbacks) deleted."""
    before = utcnow() - timedelta(seconds=settings.batch_retention_seconds)
    batches, callbacks = await database.write(store.prune, before=before)
    if batches or callbacks:
        log.info("pruned %d expired batch(es) and %d settled callback(s)", batches, callbacks)
    return batches, callbacks
