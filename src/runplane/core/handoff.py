"""Handing a new run straight to this process's own worker.

A run queued where a worker with a free slot runs (`runplane serve`, the embedded default)
need not wait for a claim loop to wake, take the database's write lock again and find it:
the transaction that creates the run also leases its first tasks to that worker, which
starts them as soon as the transaction has committed. Everything else stays as it is: the
lease is renewed, and expires if the process dies, and the run is then claimed again.

The worker first reserves slots (so it cannot give them away meanwhile), the transaction
claims at most that many of the run's tasks under the usual limits, and the reservation is
always settled when the transaction ends: the claimed tasks are started, the rest of the
slots are freed. The core only knows this protocol; the worker implements it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Protocol, TypeVar

from sqlalchemy import Connection

from runplane.clock import utcnow
from runplane.store import queue
from runplane.store.records import ClaimedTask

T = TypeVar("T")


class Handoff(Protocol):
    """The local worker, as the core sees it."""

    @property
    def owner(self) -> str: ...

    @property
    def lease_seconds(self) -> float: ...

    @property
    def instance_limit(self) -> int | None: ...

    def reserve(self, kind: str, wanted: int) -> int:
        """Hold up to `wanted` free slots for runs of `kind`; answers how many."""

    def settle(self, kind: str, reserved: int, claimed: list[ClaimedTask]) -> None:
        """Start `claimed` in the reserved slots and free the others."""


def claim_new(conn: Connection, handoff: Handoff | None, kind: str, run_id: int,
              reserved: int, max_parallel: int | None = None) -> list[ClaimedTask]:
    """In the run's own transaction: lease up to `reserved` of its tasks to the worker."""
    if handoff is None or not reserved:
        return []
    now = utcnow()
    lease_until = now + timedelta(seconds=handoff.lease_seconds)
    if handoff.instance_limit is not None:  # other runs of the instance count: look
        return queue.claim(
            conn, owner=handoff.owner, limit=reserved, now=now, lease_until=lease_until,
            kinds=(kind,), instance_limit=handoff.instance_limit, run_id=run_id,
        )
    count = reserved if max_parallel is None else min(reserved, max_parallel)
    return queue.claim_new_run(conn, run_id=run_id, owner=handoff.owner, count=count,
                               now=now, lease_until=lease_until)


async def queue_with_handoff(
    handoff: Handoff | None,
    kind: str,
    wanted: int,
    write: Callable[[int], Awaitable[tuple[T, list[ClaimedTask]]]],
    on_queued: Callable[[], None],
) -> T:
    """Run `write(reserved)` (the transaction that queues a run and claims `reserved` of
    its tasks); the reservation is settled when it ends, even if our caller is cancelled
    meanwhile (the transaction commits regardless). `on_queued` is called when tasks were
    left for the claim loops."""
    reserved = handoff.reserve(kind, wanted) if handoff is not None else 0
    writing = asyncio.ensure_future(write(reserved))

    def settle(done: asyncio.Future[tuple[T, list[ClaimedTask]]]) -> None:
        claimed = [] if done.cancelled() or done.exception() else done.result()[1]
        if handoff is not None and reserved:
            handoff.settle(kind, reserved, claimed)
        if not done.cancelled() and done.exception() is None and len(claimed) < wanted:
            on_queued()

    writing.add_done_callback(settle)
    made, _ = await asyncio.shield(writing)
    return made
