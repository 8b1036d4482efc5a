"""What a batch job calls: actions by namespace and name, each a thin call into the core.

An action has a pydantic model for its params and a handler that calls one core operation
and answers JSON. `find` looks an action up and `Action.perform` validates the params and
runs it; anything that goes wrong becomes a BatchError whose envelope is the job's answer,
so a bad job never stops its batch. The namespaces are put together in actions/__init__.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from runplane.api.batch_door.envelope import (
    JOB_DRIVER_LOST,
    JOB_INTERNAL_ERROR,
    JOB_INVALID_PARAMS,
    JOB_UNKNOWN_ACTION,
    JOB_UNKNOWN_NAMESPACE,
    UNAUTHENTICATED,
    BatchError,
    envelope,
    from_core,
)
from runplane.core.job_set import JobAnswer, JobContext
from runplane.errors import RunplaneError

KEY_GONE = "The API key that submitted this batch no longer exists."
DRIVER_LOST = ("The batch stopped before this job: the worker driving it stopped responding "
               "too many times.")


class Params(BaseModel):
    """Base of every action's params: unknown keys are refused (a typo is not ignored)."""

    model_config = ConfigDict(extra="forbid")


Handler = Callable[[JobContext, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Action:
    params: type[Params]
    handler: Handler
    # Changes only the store: may run inside the transaction that records its answer.
    # Actions that start runs (and wait for them) need their own commits.
    atomic: bool = True

    async def perform(self, context: JobContext, params: Any) -> Any:
        """Run one job; BatchError (or another core error) when it cannot."""
        return await self.handler(context, parse(self, params))


Namespaces = Mapping[str, Mapping[str, Action]]


def validation_messages(error: ValidationError) -> list[str]:
    messages = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem.get("loc", ()))
        messages.append(f"{where}: {problem['msg']}" if where else problem["msg"])
    return messages


def parse(found: Action, params: Any) -> Params:
    try:
        return found.params.model_validate(params)
    except ValidationError as error:
        raise BatchError(400, "Invalid parameters.", JOB_INVALID_PARAMS,
                         validation_messages(error)) from None


@dataclass(frozen=True)
class Actions:
    """The batch door's job set (core/job_set.py): its namespaces, answered in iVvy's
    envelope when a job cannot run."""

    namespaces: Namespaces

    def find(self, namespace: Any, name: Any) -> Action:
        actions = self.namespaces.get(namespace) if isinstance(namespace, str) else None
        if actions is None:
            raise BatchError(
                404, f"Unknown namespace '{namespace}'.", JOB_UNKNOWN_NAMESPACE,
                [f"Namespaces: {', '.join(sorted(self.namespaces))}."],
            )
        found = actions.get(name) if isinstance(name, str) else None
        if found is None:
            raise BatchError(
                404, f"Unknown action '{name}' in namespace '{namespace}'.", JOB_UNKNOWN_ACTION,
                [f"Actions of {namespace}: {', '.join(sorted(actions))}."],
            )
        return found

    def refusal(self, error: RunplaneError) -> JobAnswer:
        return from_core(error).envelope()

    def internal_error(self, error: Exception) -> JobAnswer:
        return envelope(500, f"runplane: internal error in this job: {error!r}",
                        JOB_INTERNAL_ERROR)

    def key_gone(self) -> JobAnswer:
        return envelope(401, KEY_GONE, UNAUTHENTICATED)

    def driver_lost(self) -> JobAnswer:
        return envelope(500, DRIVER_LOST, JOB_DRIVER_LOST)
