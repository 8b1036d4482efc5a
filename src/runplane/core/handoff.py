"""Handing a new run straight to this process's own worker.

A run queued where a worker with a free slot runs (`runplane serve`, the embedded default)
need not wait for a claim loop to wake, take the database's write lock again and find it:
the transaction that creates the run also leases its first tasks to that worker, which
starts them as soon as the transaction has committed. Everything else stays as it is: the
lease is renewed, and expires if the process dies, and the run is then claimed again.

The worker first reserves slots (so it cannot give them away meanwhile), the transaction
claims at most that many of the run's tasks under the usual limits, and the reservation is
always settled when the transaction ends: the claimed tasks are started, the rest of the
slots are freed. The core only knows this protocol; the worker's lanes (engine/lanes.py)
implement it, and are attached to the core where the process is wired (engine/runner.py).

Runs are made through the worker's `intake`, at most as many at once as the database writes at
once (one on SQLite). The worker shares the event loop with the requests that make runs, and
on SQLite a run's transaction runs on that loop: sixteen clients submitting at once had the
loop make their runs back to back, the worker's own steps (reading an ended run, recording
it, starting the next) waited behind them, and runs piled up in the queue while the second
core idled (executors at 0.3 of a core while runs were submitted, 1.2 once they stopped).
Through the intake, making runs and running them take turns: a run made finds a free slot and
starts at once (the handoff above) instead of waiting in the queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from runplane.model import ClaimedTask
from runplane.store import task_queue
from runplane.store.claims import Grouping
from runplane.store.unit import Tx

T = TypeVar("T")


class Handoff(Protocol):
    """The local worker, as the core sees it."""

    @property
    def owner(self) -> str: ...

    @property
    def lease_seconds(self) -> float: ...

    @property
    def instance_limit(self) -> int | None: ...

    @property
    def grouping(self) -> Grouping: ...

    def reserve(self, kind: str, wanted: int) -> int:
        """Hold up to `wanted` free slots for runs of `kind`; answers how many."""

    def settle(self, kind: str, reserved: int, groups: list[list[ClaimedTask]]) -> None:
        """Start `groups` (one slot each) in the reserved slots and free the others."""

    @property
    def intake(self) -> asyncio.Semaphore:
        """Held while a run is being made in this process (see the module's docstring)."""


def claim_new(conn: Tx, handoff: Handoff | None, kind: str, run_id: int,
              reserved: int, *, tasks_total: int = 1, max_parallel: int | None = None,
              service_type: str | None = None) -> list[list[ClaimedTask]]:
    """In the run's own transaction: lease its first tasks to the worker, as at most
    `reserved` slots' worth (store/task_queue.py, as the worker's own claims)."""
    if handoff is None or not reserved:
        return []
    return task_queue.claim_new_run(
        conn, owner=handoff.owner, lease_seconds=handoff.lease_seconds,
        instance_limit=handoff.instance_limit, grouping=handoff.grouping, kind=kind,
        run_id=run_id, reserved=reserved, tasks_total=tasks_total, max_parallel=max_parallel,
        service_type=service_type,
    )


async def queue_with_handoff(
    handoff: Handoff | None,
    kind: str,
    tasks_total: int,
    write: Callable[[int], Awaitable[tuple[T, list[list[ClaimedTask]]]]],
    on_queued: Callable[[], None],
) -> T:
    """Run `write(reserved)` (the transaction that queues a run of `tasks_total` tasks and
    claims some for `reserved` slots); the reservation is settled when it ends, even if our
    caller is cancelled meanwhile (the transaction commits regardless). `on_queued` is
    called when tasks were left for the claim loops."""
    if handoff is None:
        return await _queue(None, kind, tasks_total, write, on_queued)
    async with handoff.intake:
        return await _queue(handoff, kind, tasks_total, write, on_queued)


async def _queue(
    handoff: Handoff | None,
    kind: str,
    tasks_total: int,
    write: Callable[[int], Awaitable[tuple[T, list[list[ClaimedTask]]]]],
    on_queued: Callable[[], None],
) -> T:
    reserved = handoff.reserve(kind, tasks_total) if handoff is not None else 0
    writing = asyncio.ensure_future(write(reserved))

    def settle(done: asyncio.Future[tuple[T, list[list[ClaimedTask]]]]) -> None:
        groups = [] if done.cancelled() or done.exception() else done.result()[1]
        if handoff is not None and reserved:
            handoff.settle(kind, reserved, groups)
        handed = sum(len(group) for group in groups)
        if not done.cancelled() and done.exception() is None and handed < tasks_total:
            on_queued()

    writing.add_done_callback(settle)
    made, _ = await asyncio.shield(writing)
    return made
