"""The run and task state machine and the kinds of runs: one vocabulary for every layer.

Each door renders these in its own words (Syncano's trace statuses, eNMS's
Running/Completed, iVvy's percentages); the values are what the store keeps.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """A run's status, and a task's once it has ended."""

    PENDING = "pending"
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILURE = "failure"
    TIMEOUT = "timeout"
    ABORTED = "aborted"


class TaskState(StrEnum):
    """A task's place in the queue before it ends (then its status is a RunStatus)."""

    QUEUED = "queued"
    RUNNING = "running"


class RunKind(StrEnum):
    """What a run executes: a script, a service over targets, or a batch of jobs."""

    SCRIPT = "script"
    SERVICE = "service"
    BATCH = "batch"


# The error of a snippet service's task whose code set no results (eNMS's words, which its
# clients match on): written by the engine, shown by the service door.
RESULT_NOT_SET = "Result not set by user code on service instance"

# Module-level names for the hot paths and for brevity at call sites.
PENDING = RunStatus.PENDING
PROCESSING = RunStatus.PROCESSING
SUCCESS = RunStatus.SUCCESS
FAILURE = RunStatus.FAILURE
TIMEOUT = RunStatus.TIMEOUT
ABORTED = RunStatus.ABORTED
FINAL_STATUSES: frozenset[str] = frozenset({SUCCESS, FAILURE, TIMEOUT, ABORTED})

QUEUED = TaskState.QUEUED
RUNNING = TaskState.RUNNING

SCRIPT_RUN = RunKind.SCRIPT
SERVICE_RUN = RunKind.SERVICE
BATCH_RUN = RunKind.BATCH
