"""Claims: leasing queued tasks to a worker, within the runs' and instances' limits.

A claim walks the oldest queued tasks in id order; when a limit may apply (an instance
limit, or a candidate whose run has `max_parallel`), it also reads how many tasks each run
(and instance) has running and leaves out those without room. It marks the chosen running
under the worker's lease in one UPDATE .. RETURNING that re-checks they are still queued.
On PostgreSQL claims are serialised by a transaction-scoped advisory lock, so the limits are
exact across worker processes; on SQLite the write transaction (BEGIN IMMEDIATE) does it.

A claim fills slots: a slot takes one task, or a group of tasks of one service run whose
snippet can run over several targets in one process (see `plan_groups`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Integer, Select, bindparam, func, select, update

from runplane.model import (
    PENDING,
    PROCESSING,
    QUEUED,
    RUNNING,
    SERVICE_RUN,
    ClaimedTask,
    ScriptSpec,
    ServiceSpec,
)
from runplane.store.driver_sql import Prepared
from runplane.store.tables import instances, runs, scripts, services, tasks

PG_CLAIM_LOCK = 7_215_003_002
# How many queued tasks one claim looks at, per slot, to fill its slots around the limits.
CANDIDATE_WINDOW = 8


@dataclass(frozen=True)
class Claimed:
    # One list per slot filled: a task alone, or a group of one run's tasks.
    groups: list[list[ClaimedTask]]
    # Queued tasks may have been passed over for a run's or an instance's limit: once a
    # running one ends, claiming again may find them runnable.
    held_back: bool

    @property
    def tasks(self) -> list[ClaimedTask]:
        return [task for group in self.groups for task in group]


@dataclass(frozen=True)
class Grouping:
    """Which tasks may share a process: per-target tasks of service runs of these types, at
    most `size` to a group."""

    size: int = 1
    service_types: tuple[str, ...] = ()


NO_GROUPING = Grouping()

# Statements built once (see prebuilt.py). Running tasks per run, with the run's limits:
_RUNNING = (
    select(tasks.c.run_id, func.count().label("running"))
    .where(tasks.c.status == RUNNING)
    .group_by(tasks.c.run_id)
    .subquery()
)
_RUNNING_COUNTS = Prepared(select(
    _RUNNING.c.run_id, runs.c.instance_id, runs.c.max_parallel, _RUNNING.c.running
).select_from(_RUNNING.join(runs, runs.c.id == _RUNNING.c.run_id)))
_PG_CLAIM_LOCK = select(func.pg_advisory_xact_lock(PG_CLAIM_LOCK))


@functools.cache
def _candidates(skip_runs: bool, skip_instances: bool, one_run: bool) -> Prepared:
    """The oldest queued tasks of some kinds (of one run), but for those of blocked runs or
    instances, with what grouping needs to know of them."""
    query = (
        select(tasks.c.id, tasks.c.run_id, tasks.c.target, runs.c.instance_id,
               runs.c.max_parallel, runs.c.kind, services.c.type.label("service_type"))
        .select_from(tasks.join(runs, runs.c.id == tasks.c.run_id)
                     .outerjoin(services, services.c.id == runs.c.service_id))
        .where(tasks.c.status == QUEUED, tasks.c.available_at <= bindparam("now"),
               runs.c.kind.in_(bindparam("kinds", expanding=True)))
        .order_by(tasks.c.id)
        .limit(bindparam("window", type_=Integer))
    )
    if skip_runs:
        query = query.where(tasks.c.run_id.not_in(bindparam("blocked_runs", expanding=True)))
    if skip_instances:
        query = query.where(
            runs.c.instance_id.not_in(bindparam("blocked_instances", expanding=True))
        )
    if one_run:
        query = query.where(tasks.c.run_id == bindparam("run_id"))
    return Prepared(query)


_LEASE = {
    "status": RUNNING, "lease_owner": bindparam("owner"),
    "lease_expires_at": bindparam("lease_until"), "attempts": tasks.c.attempts + 1,
    "started_at": bindparam("now"),
}
_LEASED = (tasks.c.id, tasks.c.run_id, tasks.c.attempts, tasks.c.target, tasks.c.target_data)
# Re-checked under the row lock: a stop may have aborted a candidate meanwhile.
_LEASE_CHOSEN = Prepared(
    update(tasks)
    .where(tasks.c.id.in_(bindparam("chosen", expanding=True)), tasks.c.status == QUEUED)
    .values(_LEASE)
    .returning(*_LEASED)
)
_LEASE_FIRST = Prepared(
    update(tasks)
    .where(tasks.c.run_id == bindparam("new_run"), tasks.c.status == QUEUED,
           tasks.c.position < bindparam("count"))
    .values(_LEASE)
    .returning(*_LEASED)
)
_RUNS_STARTED = Prepared(
    update(runs)
    .where(runs.c.id.in_(bindparam("run_ids", expanding=True)), runs.c.status == PENDING)
    .values(status=PROCESSING, started_at=bindparam("now"))
)


def _specs_query() -> Select[Any]:
    """What executing a task of these runs needs: the run, its instance, script, service."""
    script_id = func.coalesce(runs.c.script_id, services.c.script_id)
    return (
        select(
            runs.c.id.label("run_id"), runs.c.kind, runs.c.payload, runs.c.meta,
            runs.c.tasks_total,
            runs.c.instance_id, instances.c.name.label("instance_name"),
            instances.c.config.label("instance_config"),
            scripts.c.id.label("script_id"), scripts.c.source, scripts.c.runtime_name,
            scripts.c.config.label("script_config"),
            services.c.id.label("service_id"), services.c.name.label("service_name"),
            services.c.type.label("service_type"), services.c.source_code,
            services.c.command, services.c.timeout.label("service_timeout"),
            services.c.run_method,
        )
        .select_from(
            runs.join(instances, runs.c.instance_id == instances.c.id)
            .outerjoin(services, runs.c.service_id == services.c.id)
            .outerjoin(scripts, scripts.c.id == script_id)
        )
        .where(runs.c.id.in_(bindparam("run_ids", expanding=True)))
    )


_SPECS = Prepared(_specs_query())


def claim(conn: Connection, **given: Any) -> list[ClaimedTask]:
    """`claim_tasks`' tasks alone (one slot each, unless `grouping` is given)."""
    return claim_tasks(conn, **given).tasks


def claim_tasks(
    conn: Connection,
    *,
    owner: str,
    limit: int,
    now: datetime,
    lease_until: datetime,
    kinds: tuple[str, ...] = ("script", "service"),
    instance_limit: int | None = None,
    run_id: int | None = None,
    grouping: Grouping = NO_GROUPING,
) -> Claimed:
    """Lease the oldest runnable tasks of `kinds` (of run `run_id` only, if given) to
    `owner`, for at most `limit` slots.

    A task is runnable when its run has fewer running tasks than its `max_parallel` and its
    instance fewer than `instance_limit`; others stay queued (their run stays pending).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(_PG_CLAIM_LOCK)
    window = limit * (CANDIDATE_WINDOW + max(0, grouping.size - 1))

    def oldest(blocked_runs: list[int], blocked_instances: list[int]) -> Sequence[Any]:
        statement = _candidates(bool(blocked_runs), bool(blocked_instances), run_id is not None)
        rows: Sequence[Any] = statement.execute(conn, {
            "now": now, "kinds": list(kinds), "window": window, "run_id": run_id,
            "blocked_runs": blocked_runs, "blocked_instances": blocked_instances,
        }).all()
        return rows

    candidates: Sequence[Any] | None = None
    if not instance_limit:
        # Most claims meet no limit at all: when no candidate's run has one, the running
        # counts (a statement of their own) would change nothing.
        candidates = oldest([], [])
        if all(row.max_parallel is None for row in candidates):
            plan, held_back = plan_groups(candidates, slots=limit, grouping=grouping,
                                          run_room={}, instance_room={}, instance_limit=None)
            # Beyond a full window, tasks of limited runs may wait.
            return Claimed(_lease(conn, plan, owner=owner, now=now, lease_until=lease_until),
                           held_back or len(candidates) == window)
    run_room: dict[int, int] = {}
    instance_room: dict[int, int] = {}
    for row in _RUNNING_COUNTS.execute(conn):
        if row.max_parallel is not None:
            run_room[row.run_id] = row.max_parallel - row.running
        if instance_limit:
            instance_room[row.instance_id] = (
                instance_room.get(row.instance_id, instance_limit) - row.running
            )
    blocked_runs = [run for run, room in run_room.items() if room <= 0]
    blocked_instances = [instance for instance, room in instance_room.items() if room <= 0]
    if candidates is None or blocked_runs or blocked_instances:
        candidates = oldest(blocked_runs, blocked_instances)  # the blocked ones left out
    plan, held_back = plan_groups(
        candidates, slots=limit, grouping=grouping, run_room=run_room,
        instance_room=instance_room, instance_limit=instance_limit,
    )
    held_back = held_back or bool(blocked_runs or blocked_instances)
    return Claimed(_lease(conn, plan, owner=owner, now=now, lease_until=lease_until),
                   held_back)


def plan_groups(
    candidates: Sequence[Any], *, slots: int, grouping: Grouping, run_room: dict[int, int],
    instance_room: dict[int, int], instance_limit: int | None,
) -> tuple[list[list[int]], bool]:
    """Task ids to lease, as at most `slots` groups, and whether a limit held any back.

    A groupable task joins the open group of its run while that has room. Groups are as big
    as it takes for the candidates to fit the slots (so that work that fits spreads over
    the free slots, one task each), at most `grouping.size`. Every task counts against its
    run's and its instance's room, grouped or not.
    """
    groupable = {
        row.id for row in candidates
        if grouping.size > 1 and row.kind == SERVICE_RUN and row.target is not None
        and row.service_type in grouping.service_types
    }
    size = min(grouping.size, max(1, math.ceil(len(candidates) / max(1, slots))))
    groups: list[list[int]] = []
    open_group: dict[int, list[int]] = {}  # run -> its open group
    held_back = False
    for row in candidates:
        room = run_room.get(row.run_id, row.max_parallel)
        space = instance_room.get(row.instance_id, instance_limit) if instance_limit else None
        if (room is not None and room <= 0) or (space is not None and space <= 0):
            held_back = True
            continue
        joined = open_group.get(row.run_id) if row.id in groupable else None
        if joined is not None and len(joined) < size:
            joined.append(row.id)
        elif len(groups) < slots:
            groups.append([row.id])
            if row.id in groupable:
                open_group[row.run_id] = groups[-1]
        else:
            continue  # no slot left for it; a later one may still join a group
        if room is not None:
            run_room[row.run_id] = room - 1
        if space is not None:
            instance_room[row.instance_id] = space - 1
        if len(groups) == slots and all(len(group) >= size for group in open_group.values()):
            break
    return groups, held_back


def claim_new_run(conn: Connection, *, run_id: int, owner: str, count: int, group_size: int,
                  now: datetime, lease_until: datetime) -> list[list[ClaimedTask]]:
    """Lease the first `count` tasks of a run made in this very transaction to `owner`, in
    groups of `group_size` (1: a task to a slot).

    Nothing of a new run is running yet, so its own limit is `count` (the caller keeps it
    within max_parallel and its slots) and no candidates need to be looked for. An instance
    limit does need the running counts: use `claim_tasks` with `run_id` then.
    """
    ids = _LEASE_FIRST.execute(conn, {
        "new_run": run_id, "count": count, "owner": owner, "lease_until": lease_until,
        "now": now,
    }).all()
    order = sorted(row.id for row in ids)
    size = max(1, group_size)
    plan = [order[start:start + size] for start in range(0, len(order), size)]
    return _build(conn, plan, ids, now)


def _lease(conn: Connection, plan: list[list[int]], *, owner: str, now: datetime,
           lease_until: datetime) -> list[list[ClaimedTask]]:
    chosen = [task_id for group in plan for task_id in group]
    if not chosen:
        return []
    leased = _LEASE_CHOSEN.execute(conn, {
        "chosen": chosen, "owner": owner, "lease_until": lease_until, "now": now,
    }).all()
    return _build(conn, plan, leased, now)


def _build(conn: Connection, plan: list[list[int]], leased: Sequence[Any], now: datetime
           ) -> list[list[ClaimedTask]]:
    """The planned groups of the tasks really leased (a stop may have taken some), with
    their runs marked started."""
    if not leased:
        return []
    rows = {row.id: row for row in leased}
    run_ids = sorted({row.run_id for row in leased})
    _RUNS_STARTED.execute(conn, {"run_ids": run_ids, "now": now})
    specs = {row.run_id: row for row in _SPECS.execute(conn, {"run_ids": run_ids})}
    groups = [[_claimed(rows[task_id], specs[rows[task_id].run_id])
               for task_id in group if task_id in rows] for group in plan]
    return [group for group in groups if group]


def _claimed(task: Any, spec: Any) -> ClaimedTask:
    script = None
    if spec.script_id is not None:
        script = ScriptSpec(
            runtime_name=spec.runtime_name, source=spec.source, config=spec.script_config
        )
    service = None
    if spec.service_id is not None:
        service = ServiceSpec(
            name=spec.service_name, type=spec.service_type, source_code=spec.source_code,
            command=spec.command, timeout=spec.service_timeout, run_method=spec.run_method,
        )
    return ClaimedTask(
        task_id=task.id, run_id=task.run_id, kind=spec.kind, attempt=task.attempts,
        instance_id=spec.instance_id, instance_name=spec.instance_name,
        instance_config=spec.instance_config, payload=spec.payload, meta=spec.meta,
        target=task.target, target_data=task.target_data, script=script, service=service,
        tasks_total=spec.tasks_total,
    )
