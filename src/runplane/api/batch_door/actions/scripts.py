"""The `script` namespace: create, get, list, update, delete, run (which waits)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from runplane.api.batch_door.actions.common import ListParams, finished_run, window
from runplane.api.batch_door.actions.registry import Action, Params

# The answers are the script door's own renderings, so a batch sees what that door shows.
from runplane.api.dialects import syncano
from runplane.core import runs, scripts
from runplane.core.access import Role, require
from runplane.core.job_set import JobContext

JsonField = dict[str, Any] | list[Any] | str


class ScriptFields(Params):
    label: str | None = None
    runtime_name: str | None = None
    source: str | None = None
    config: dict[str, Any] | str | None = None
    description: str | None = None


class CreateScript(ScriptFields):
    label: str
    runtime_name: str


class ScriptId(Params):
    id: int = Field(ge=1)


class UpdateScript(ScriptFields):
    id: int = Field(ge=1)


class RunScript(Params):
    id: int = Field(ge=1)
    payload: JsonField | None = None


def _given(params: Params, *leave_out: str) -> dict[str, Any]:
    return params.model_dump(exclude_unset=True, exclude=set(leave_out))


async def create(context: JobContext, params: CreateScript) -> dict[str, Any]:
    made = await scripts.create(context.core, context.key, context.instance.name, _given(params))
    return syncano.script(made, context.instance.name)


async def get(context: JobContext, params: ScriptId) -> dict[str, Any]:
    found = await scripts.get(context.core, context.key, context.instance.name, params.id)
    return syncano.script(found, context.instance.name)


async def list_scripts(context: JobContext, params: ListParams) -> dict[str, Any]:
    require(context.key, Role.read, context.instance)
    found: list[dict[str, Any]] = []
    after = None
    while len(found) < params.start + params.perPage:
        page = await scripts.list_scripts(
            context.core, context.key, context.instance.name, after=after, limit=100,
            descending=False,
        )
        found.extend(syncano.script(item, context.instance.name, in_list=True)
                     for item in page.items)
        if not page.has_more:
            break
        after = page.items[-1].number
    return window(found, params)


async def update(context: JobContext, params: UpdateScript) -> dict[str, Any]:
    changed = await scripts.update(
        context.core, context.key, context.instance.name, params.id, _given(params, "id"),
        partial=True,
    )
    return syncano.script(changed, context.instance.name)


async def delete(context: JobContext, params: ScriptId) -> dict[str, Any]:
    await scripts.delete(context.core, context.key, context.instance.name, params.id)
    return {"deleted": True, "id": params.id}


async def run(context: JobContext, params: RunScript) -> dict[str, Any]:
    """Run the script and answer its finished trace (the script door's trace, plus runId)."""
    core, instance = context.core, context.instance
    run_id = context.started_run_id
    if run_id is None:
        require(context.key, Role.run, instance)
        script = await scripts.find(core, instance, params.id)
        payload = {} if params.payload is None else params.payload
        queued = await runs.queue_script_run(
            core, instance, script, payload, trigger="api", executor=script.number,
            meta={"batch": True}, link=context.link,
        )
        run_id = queued.id
    ended = await finished_run(context, run_id)
    return {**syncano.trace(ended, instance.name, params.id), "runId": ended.id}


SCRIPT_ACTIONS: dict[str, Action] = {
    "create": Action(CreateScript, create),
    "get": Action(ScriptId, get),
    "list": Action(ListParams, list_scripts),
    "update": Action(UpdateScript, update),
    "delete": Action(ScriptId, delete),
    "run": Action(RunScript, run, atomic=False),
}
