"""Performers: how a worker carries out a task of each run kind.

A performer takes a claimed task and answers its result; it never records it (the worker
does, under its lease). Scripts and service targets execute in a child process through the
executor; a batch is driven in-process, calling core actions one after the other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from runplane.core.context import Core
from runplane.engine.execution import Executor
from runplane.model import ClaimedTask, TaskResult


@dataclass(frozen=True)
class WorkerContext:
    core: Core
    executor: Executor
    worker_name: str


Performer = Callable[[WorkerContext, ClaimedTask], Awaitable[TaskResult]]

# Kinds executed in a child process use the execution slots; the others (batch drivers,
# which mostly wait for the runs they start) use control slots, so they cannot starve them.
EXECUTION_KINDS = ("script", "service")
CONTROL_KINDS = ("batch",)


def performer_for(kind: str) -> Performer:
    if kind == "script":
        from runplane.engine.script_performer import perform_script

        return perform_script
    if kind == "service":
        from runplane.engine.service_performer import perform_service_target

        return perform_service_target
    if kind == "batch":
        from runplane.engine.batch_performer import perform_batch

        return perform_batch
    raise LookupError(f"no performer for runs of kind {kind!r}")
