"""What a batch's driver needs from the jobs it runs, without knowing their dialect.

The actions a batch may call, and the words of their answers and refusals, belong to the
batch door (api/batch_door/actions/). The driver (core/batch_driver.py) only finds an
action by name, calls it and keeps whatever it answers; the door's `JobSet` is attached to
the core where the app is wired (`Core.batch_jobs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from runplane.core.runs import RunLink
from runplane.errors import RunplaneError
from runplane.model import ApiKey, Instance

if TYPE_CHECKING:
    from runplane.core.context import Core

# A job's answer as it is kept and shown: JSON, shaped by the door that owns the actions.
JobAnswer = Any


@dataclass(frozen=True)
class JobContext:
    """What an action runs with: the submitting key, the batch's instance, its run link."""

    core: Core
    key: ApiKey
    instance: Instance
    # A run this job started before a crash: wait for it rather than start another.
    started_run_id: int | None
    # Records the run a job starts, inside the transaction that makes the run.
    link: RunLink


class JobAction(Protocol):
    """One action a job may name."""

    @property
    def atomic(self) -> bool:
        """Changes only the store: may run inside the transaction that records its answer
        (actions that start runs, and wait for them, need their own commits)."""
        ...

    async def perform(self, context: JobContext, params: Any) -> JobAnswer:
        """The action's answer; a RunplaneError when it cannot."""
        ...


class JobSet(Protocol):
    """The actions of a batch, and how their refusals are answered."""

    def find(self, namespace: Any, action: Any) -> JobAction:
        """The named action; a RunplaneError (answered with `refusal`) when there is none."""
        ...

    def refusal(self, error: RunplaneError) -> JobAnswer:
        """A job's answer when its action refused (or was not found)."""
        ...

    def internal_error(self, error: Exception) -> JobAnswer:
        """A job's answer when its action failed unexpectedly (a bug of ours)."""
        ...

    def key_gone(self) -> JobAnswer:
        """A job's answer when the key that submitted the batch no longer exists."""
        ...

    def driver_lost(self) -> JobAnswer:
        """A job's answer when its batch's driver failed for good before reaching it."""
        ...
