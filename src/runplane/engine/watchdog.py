"""How long a run's process may live: its timeout, restarted by progress for a batch.

A snippet batch gives each of its targets the whole timeout, and times them out itself
(SIGALRM in the child). This is the backstop, for a target stuck where a signal handler
cannot run (a long call in C): the process is killed when neither a target has begun nor one
has ended for the timeout plus a grace period.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

PROGRESS_POLL_SECONDS = 0.1
BATCH_GRACE_SECONDS = 1.0


async def wait_for_exit(exited: asyncio.Future[Any], timeout: float,
                        progress: Callable[[], int] | None = None) -> bool:
    """True once `exited` is done; False when the time ran out first (it is not cancelled).

    With `progress` (a measure that grows as a batch advances), the clock restarts at each
    change and allows `timeout` plus the grace period.
    """
    if progress is None:
        done, _ = await asyncio.wait({exited}, timeout=timeout)
        return bool(done)
    loop = asyncio.get_running_loop()
    allowed = timeout + BATCH_GRACE_SECONDS
    seen, deadline = progress(), loop.time() + allowed
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False
        done, _ = await asyncio.wait({exited}, timeout=min(remaining, PROGRESS_POLL_SECONDS))
        if done:
            return True
        now = progress()
        if now != seen:
            seen, deadline = now, loop.time() + allowed
