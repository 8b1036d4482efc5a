"""Service runs on eNMS's REST surface: run_service, result, stop and logs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from runplane.api.core_dependency import CoreDep
from runplane.api.dialects import enms, enms_runs
from runplane.api.openapi_docs import body_doc
from runplane.api.service_door.auth import Reader, Runner
from runplane.api.service_door.body import json_body
from runplane.api.service_door.errors import ServiceDoorRoute
from runplane.api.service_door.instance_types import Record
from runplane.api.service_door.openapi_bodies import RUN_SERVICE
from runplane.core import service_runs

router = APIRouter(route_class=ServiceDoorRoute, tags=["service door: services"])
LOG_PAGE_MAX = 10_000
RUN_EXAMPLE = {
    "name": "my_service_or_workflow", "devices": ["Washington"], "pools": ["Pool1", "Pool2"],
    "ip_addresses": ["127.0.0.1"], "async": True,
    "user_identified_key": "user_identified_value", "aid": "1-2-3",
}


@router.post(
    "/rest/run_service",
    summary="Run a service on devices, pools or IP addresses (sync by default, or async)",
    openapi_extra=body_doc(RUN_SERVICE, RUN_EXAMPLE),
)
async def run_service(request: Request, core: CoreDep, caller: Runner) -> Record:
    return await enms_runs.run_service(core, caller.instance, await json_body(request))


@router.get("/rest/result/{service}/{runtime}", summary="A run's result ('No results yet.')")
async def result(service: str, runtime: str, core: CoreDep, caller: Reader) -> Record:
    return await enms_runs.result(core, caller.instance, service, runtime)


@router.post("/rest/stop/{runtime}", summary="Stop a run now: kill running targets, abort queued")
async def stop(runtime: str, core: CoreDep, caller: Runner) -> Record:
    return await enms_runs.stop(core, caller.instance, runtime)


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
        "status": enms.status_name(run.status),
        "logs": [
            {"id": line.id, "time": line.created_at.isoformat(), "severity": line.severity,
             "source": line.source, "message": line.message}
            for line in lines
        ],
        "offset": lines[-1].id if lines else offset,
    }
