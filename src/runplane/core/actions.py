"""The namespace/action registry a batch calls: each action a thin call into the core.

An action has a pydantic model for its params and a handler that calls one core operation
and answers JSON. `call` finds the action, validates the params and runs it; anything that
goes wrong becomes a BatchError whose envelope is the job's response, so a bad job never
stops its batch. Namespaces live in core/job_actions/, one module each.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from runplane.core.batch_errors import (
    JOB_INVALID_PARAMS,
    JOB_UNKNOWN_ACTION,
    JOB_UNKNOWN_NAMESPACE,
    BatchError,
)
from runplane.core.context import Core
from runplane.core.runs import RunLink
from runplane.model import ApiKey, Instance

NAMESPACE_MODULES = ("scripts", "inventory", "services", "runs")


class Params(BaseModel):
    """Base of every action's params: unknown keys are refused (a typo is not ignored)."""

    model_config = ConfigDict(extra="forbid")


P = TypeVar("P", bound=Params)


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


Handler = Callable[[JobContext, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Action:
    params: type[Params]
    handler: Handler
    # Changes only the store: may run inside the transaction that records its answer.
    # Actions that start runs (and wait for them) need their own commits.
    atomic: bool = True


_registry: dict[str, dict[str, Action]] = {}
_loaded = False


def action(namespace: str, name: str, params: type[P], *, atomic: bool = True
           ) -> Callable[[Callable[[JobContext, P], Awaitable[Any]]], Any]:
    """Register the decorated handler as `namespace.name`, taking `params`."""

    def register(handler: Callable[[JobContext, P], Awaitable[Any]]) -> Any:
        _registry.setdefault(namespace, {})[name] = Action(
            params=params, handler=handler, atomic=atomic
        )
        return handler

    return register


def registry() -> dict[str, dict[str, Action]]:
    global _loaded
    if not _loaded:
        for module in NAMESPACE_MODULES:
            importlib.import_module(f"runplane.core.job_actions.{module}")
        _loaded = True
    return _registry


def find(namespace: Any, name: Any) -> Action:
    namespaces = registry()
    actions = namespaces.get(namespace) if isinstance(namespace, str) else None
    if actions is None:
        raise BatchError(
            404, f"Unknown namespace '{namespace}'.", JOB_UNKNOWN_NAMESPACE,
            [f"Namespaces: {', '.join(sorted(namespaces))}."],
        )
    found = actions.get(name) if isinstance(name, str) else None
    if found is None:
        raise BatchError(
            404, f"Unknown action '{name}' in namespace '{namespace}'.", JOB_UNKNOWN_ACTION,
            [f"Actions of {namespace}: {', '.join(sorted(actions))}."],
        )
    return found


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


async def call(context: JobContext, found: Action, params: Any) -> Any:
    """Run one job; BatchError (or another core error) when it cannot."""
    return await found.handler(context, parse(found, params))
