"""Performers: how a worker carries out a task of each run kind.

A performer takes a claimed task and answers its result; it never records it (the worker
does, under its lease). Scripts and service targets execute in a child process through the
executor; a batch is driven in-process, calling the batch door's actions (the core's job
set, core/job_set.py) one after the other.

This module holds only what performers share with the worker (their context and type, and
which lane each kind runs in); which performer serves which kind is built in
performer_registry.py, the one module that imports them all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from runplane.core.context import Core
from runplane.engine.execution import Executor
from runplane.model import ClaimedTask, RunKind, TaskResult


@dataclass(frozen=True)
class WorkerContext:
    core: Core
    executor: Executor
    worker_name: str


Performer = Callable[[WorkerContext, ClaimedTask], Awaitable[TaskResult]]
Performers = Mapping[str, Performer]  # by run kind (RunKind values are its keys)

# Kinds executed in a child process use the execution slots; the others (batch drivers,
# which mostly wait for the runs they start) use control slots, so they cannot starve them.
EXECUTION_KINDS: tuple[RunKind, ...] = (RunKind.SCRIPT, RunKind.SERVICE)
CONTROL_KINDS: tuple[RunKind, ...] = (RunKind.BATCH,)
