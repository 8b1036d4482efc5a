"""The `service` namespace: create, get, list, delete, run (the body of /rest/run_service)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from runplane.api.batch_door.actions.common import ListParams, finished_run, window
from runplane.api.batch_door.actions.registry import Action, Params
from runplane.api.dialects import enms_runs
from runplane.api.dialects.enms import service_fields
from runplane.core import service_runs, services
from runplane.core.access import Role, require
from runplane.core.job_set import JobContext
from runplane.errors import Conflict, NotFound


class Named(Params):
    name: str


class ServiceBody(Params):
    """A service's fields, or a run_service body: eNMS names, checked by the service core."""

    model_config = ConfigDict(extra="allow")
    name: str


async def create(context: JobContext, params: ServiceBody) -> dict[str, Any]:
    require(context.key, Role.write, context.instance)
    try:
        await services.find(context.core, context.instance, params.name)
    except NotFound:
        made = await services.save(context.core, context.instance, params.model_dump())
        return service_fields(made)
    raise Conflict("name", f"A service named '{params.name}' already exists.")


async def get(context: JobContext, params: Named) -> dict[str, Any]:
    require(context.key, Role.read, context.instance)
    found = await services.get(context.core, context.instance, params.name)
    return service_fields(found)


async def list_services(context: JobContext, params: ListParams) -> dict[str, Any]:
    require(context.key, Role.read, context.instance)
    page = await services.list_services(
        context.core, context.instance, limit=params.start + params.perPage,
        filters=params.filters,
    )
    return window([service_fields(item) for item in page.items], params)


async def delete(context: JobContext, params: Named) -> dict[str, Any]:
    require(context.key, Role.write, context.instance)
    await services.delete(context.core, context.instance, params.name)
    return {"deleted": True, "name": params.name}


async def run(context: JobContext, params: ServiceBody) -> dict[str, Any]:
    """Run the service and answer run_service's synchronous answer once it has ended
    (`"async": true` answers `{"errors", "runtime"}` at once, as run_service does)."""
    run_id = context.started_run_id
    errors: list[str] = []
    if run_id is None:
        require(context.key, Role.run, context.instance)
        submitted = await service_runs.submit(
            context.core, context.instance, enms_runs.run_request(params.model_dump()),
            link=context.link)
        if submitted.run is None:
            return {"errors": submitted.errors}
        if not submitted.wait:
            return {"errors": submitted.errors, "runtime": submitted.run.runtime}
        run_id, errors = submitted.run.id, submitted.errors
    ended = await finished_run(context, run_id)
    answer = await enms_runs.summarize(context.core, ended)
    answer["errors"] = errors
    return answer


SERVICE_ACTIONS: dict[str, Action] = {
    "create": Action(ServiceBody, create),
    "get": Action(Named, get),
    "list": Action(ListParams, list_services),
    "delete": Action(Named, delete),
    "run": Action(ServiceBody, run, atomic=False),
}
