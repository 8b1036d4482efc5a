"""Services on eNMS's REST surface: run_service, result, stop, logs, and /rest/instance/service."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from runplane.api.service_door.auth import CoreDep, Reader, Runner
from runplane.api.service_door.body import json_body
from runplane.api.service_door.errors import ServiceDoorRoute
from runplane.api.service_door.inventory import INSTANCE_TYPES, InstanceType, Record
from runplane.core import service_runs
from runplane.core import services as service_core
from runplane.core.context import Core
from runplane.core.inventory import Failure, SaveReport, describe
from runplane.core.pool_filters import matches, string_form
from runplane.core.search import SearchRequest
from runplane.errors import Invalid
from runplane.model import Instance, Service

router = APIRouter(route_class=ServiceDoorRoute, tags=["service door: services"])
LOG_PAGE_MAX = 10_000
RUN_EXAMPLE = {
    "name": "my_service_or_workflow", "devices": ["Washington"], "pools": ["Pool1", "Pool2"],
    "ip_addresses": ["127.0.0.1"], "async": True,
    "user_identified_key": "user_identified_value", "aid": "1-2-3",
}


def render_service(service: Service) -> Record:
    return {"type": service.type, **service_core.as_dict(service), "id": service.id}


async def _all_services(core: Core, instance: Instance) -> list[Record]:
    page = await service_core.list_services(core, instance, limit=10_000)
    return [render_service(service) for service in page.items]


async def _save_many(core: Core, instance: Instance, items: list[Any]) -> SaveReport:
    success: list[str] = []
    failure: list[Failure] = []
    for index, given in enumerate(items):
        try:
            success.append((await service_core.save(core, instance, given)).name)
        except Invalid as error:
            name = given.get("name") if isinstance(given, dict) else None
            failure.append(Failure(index, name if isinstance(name, str) else None,
                                   describe(error)))
    return SaveReport(success=success, failure=failure)


async def _query(core: Core, instance: Instance, equals: dict[str, str]) -> list[Record]:
    return [record for record in await _all_services(core, instance)
            if all(string_form(record.get(name)) == value for name, value in equals.items())]


async def _search(core: Core, instance: Instance, search: SearchRequest) -> list[Record]:
    records = [record for record in await _all_services(core, instance)
               if all(matches(item, string_form(record.get(item.property)))
                      for item in search.filters)]
    for name, descending in reversed(search.order):
        records.sort(key=lambda record, name=name: string_form(record.get(name)),
                     reverse=descending)
    return records[search.start:search.start + search.limit]


async def _get(core: Core, instance: Instance, name: str) -> Record:
    return render_service(await service_core.get(core, instance, name))


async def _delete(core: Core, instance: Instance, name: str) -> Record:
    return render_service(await service_core.delete(core, instance, name))


async def _save_one(core: Core, instance: Instance, given: Any) -> str:
    return (await service_core.save(core, instance, given)).name


INSTANCE_TYPES["service"] = InstanceType(
    save_one=_save_one, save_many=_save_many, get=_get, delete=_delete, query=_query,
    search=_search,
)


@router.post(
    "/rest/run_service",
    summary="Run a service on devices, pools or IP addresses (sync by default, or async)",
    openapi_extra={"requestBody": {"content": {"application/json": {
        "schema": {"type": "object", "required": ["name"], "additionalProperties": True},
        "example": RUN_EXAMPLE,
    }}}},
)
async def run_service(request: Request, core: CoreDep, caller: Runner) -> Record:
    return await service_runs.run_service(core, caller.instance, await json_body(request))


@router.get("/rest/result/{service}/{runtime}", summary="A run's result ('No results yet.')")
async def result(service: str, runtime: str, core: CoreDep, caller: Reader) -> Record:
    return await service_runs.result(core, caller.instance, service, runtime)


@router.post("/rest/stop/{runtime}", summary="Stop a run now: kill running targets, abort queued")
async def stop(runtime: str, core: CoreDep, caller: Runner) -> Record:
    return await service_runs.stop(core, caller.instance, runtime)


@router.get("/rest/logs/{runtime}", summary="A run's log lines after `offset` (tail with it)")
async def logs(
    runtime: str, core: CoreDep, caller: Reader,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=LOG_PAGE_MAX)] = 1000,
) -> Record:
    run, lines = await service_runs.logs(
        core, caller.instance, runtime, offset=offset, limit=limit
    )
    return {
        "runtime": runtime,
        "status": service_runs.status_name(run.status),
        "logs": [
            {"id": line.id, "time": line.created_at.isoformat(), "severity": line.severity,
             "source": line.source, "message": line.message}
            for line in lines
        ],
        "offset": lines[-1].id if lines else offset,
    }
