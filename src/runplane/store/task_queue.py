"""The queue as a worker uses it: one narrow interface over claims.py, queue.py and
leases.py.

The worker (engine/) and the handoff of runs made in its process (core/handoff.py) take
tasks through it: claim, finish (and, in the same transaction, claim what takes the slot
it frees), renew, release, and the tasks to kill because their run was asked to stop.
Each step is the one transaction it has always been, with the same statements; those that
touch a handful of rows go through `write_small` / `read_small`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from runplane.clock import utcnow
from runplane.model import ClaimedTask, TaskResult
from runplane.store import claims, leases, queue
from runplane.store.claims import Claimed, Grouping
from runplane.store.database import Database
from runplane.store.queue import Recorded

# A task's result, or None: give the task back to the queue (it was never begun).
Outcome = tuple[int, TaskResult | None]


@dataclass(frozen=True)
class LeaseTerms:
    """How one worker claims: whose leases, for how long, under which limits."""

    owner: str
    seconds: float
    # Running tasks an instance may have, across runs and workers (None: no limit).
    instance_limit: int | None
    grouping: Grouping


@dataclass(frozen=True)
class ClaimRequest:
    """A claim of at most `limit` slots' worth of tasks of `kinds`, as of `now`."""

    terms: LeaseTerms
    limit: int
    kinds: tuple[str, ...]
    now: datetime

    @classmethod
    def of(cls, terms: LeaseTerms, limit: int, kinds: tuple[str, ...]) -> ClaimRequest:
        return cls(terms=terms, limit=limit, kinds=kinds, now=utcnow())


def claim(conn: Connection, request: ClaimRequest) -> Claimed:
    terms, now = request.terms, request.now
    return claims.claim_tasks(
        conn, owner=terms.owner, limit=request.limit, now=now, kinds=request.kinds,
        lease_until=now + timedelta(seconds=terms.seconds),
        instance_limit=terms.instance_limit, grouping=terms.grouping,
    )


def finish_then_claim(
    conn: Connection, *, owner: str, now: datetime, outcomes: Sequence[Outcome],
    successor: ClaimRequest | None, lone: bool = True,
) -> tuple[list[Recorded], Claimed | None]:
    """The results (queue.finish_tasks) and, if asked, a claim for the slot they free."""
    recorded = queue.finish_tasks(conn, owner=owner, now=now, outcomes=outcomes, lone=lone)
    return recorded, claim(conn, successor) if successor else None


def claim_new_run(
    conn: Connection, *, owner: str, lease_seconds: float, instance_limit: int | None,
    grouping: Grouping, kind: str, run_id: int, reserved: int, tasks_total: int = 1,
    max_parallel: int | None = None, service_type: str | None = None,
) -> list[list[ClaimedTask]]:
    """In the transaction that made run `run_id`: lease its first tasks to `owner`, as at
    most `reserved` slots' worth (a group of targets to a slot, where they may share one)."""
    now = utcnow()
    lease_until = now + timedelta(seconds=lease_seconds)
    if instance_limit is not None:  # other runs of the instance count: look
        return claims.claim_tasks(
            conn, owner=owner, limit=reserved, now=now, lease_until=lease_until,
            kinds=(kind,), instance_limit=instance_limit, run_id=run_id, grouping=grouping,
        ).groups
    # As a claim would group them (claims.plan_groups): the run's targets shared out over
    # the slots, at most grouping.size to a group; a big run fills whole groups even when
    # max_parallel lets fewer of them run at once (fewer forks, as many targets in flight).
    group_size = 1
    if grouping.size > 1 and service_type in grouping.service_types:
        group_size = min(grouping.size, math.ceil(tasks_total / reserved))
    count = min(tasks_total, reserved * group_size)
    if max_parallel is not None:
        count = min(count, max_parallel)
    return claims.claim_new_run(conn, run_id=run_id, owner=owner, count=count,
                                group_size=group_size, now=now, lease_until=lease_until)


class TaskQueue:
    """One worker's steps on the queue, each one transaction, under its lease terms."""

    def __init__(self, database: Database, terms: LeaseTerms) -> None:
        self.database = database
        self.terms = terms

    def request(self, limit: int, kinds: tuple[str, ...]) -> ClaimRequest:
        return ClaimRequest.of(self.terms, limit, kinds)

    async def claim(self, limit: int, kinds: tuple[str, ...]) -> Claimed:
        """Lease the oldest runnable tasks of `kinds`, for at most `limit` slots."""
        return await self.database.write_small(claim, self.request(limit, kinds))

    async def finish(self, outcomes: Sequence[Outcome], *, lone: bool,
                     successor: ClaimRequest | None) -> tuple[list[Recorded], Claimed | None]:
        """Record `outcomes` (a Recorded per result given) and, with `successor`, claim
        in the same transaction what is to take the slot they free."""
        return await self.database.write_small(
            finish_then_claim, owner=self.terms.owner, now=utcnow(), outcomes=outcomes,
            successor=successor, lone=lone,
        )

    async def renew(self, task_ids: Sequence[int]) -> int:
        """Extend the leases on `task_ids`; answers how many are still ours."""
        lease_until = utcnow() + timedelta(seconds=self.terms.seconds)
        return await self.database.write_small(
            leases.renew_leases, owner=self.terms.owner, task_ids=task_ids,
            lease_until=lease_until,
        )

    async def stopped(self) -> list[int]:
        """Tasks we run whose run was asked to stop."""
        return await self.database.read_small(leases.stopped_tasks, owner=self.terms.owner)

    async def release(self) -> int:
        """Give back every task we hold, its attempt not counted (a clean shutdown)."""
        return await self.database.write(queue.release, owner=self.terms.owner, now=utcnow())
