"""Instances and their shared config: /v1.1/instances/..."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from runplane.api.core_dependency import CoreDep
from runplane.api.dialects import syncano
from runplane.api.openapi_docs import body_doc
from runplane.api.script_door.auth import with_body
from runplane.api.script_door.errors import ScriptDoorRoute
from runplane.api.script_door.openapi_bodies import INSTANCE, INSTANCE_CONFIG
from runplane.api.script_door.paging import paginated
from runplane.api.script_door.requests import Caller
from runplane.core import instances

router = APIRouter(route_class=ScriptDoorRoute, tags=["script door: instances"])


@router.get("/v1.1/instances/", summary="List instances")
async def list_instances(request: Request, core: CoreDep, key: Caller) -> dict[str, Any]:
    async def fetch(after: int | None, limit: int, descending: bool):  # type: ignore[no-untyped-def]
        return await instances.list_for(
            core, key, after=after, limit=limit, descending=descending
        )

    return await paginated(
        request, fetch, key=lambda item: item.id, render=lambda item: syncano.instance(item, key),
        max_size=core.settings.page_size_max,
    )


@router.post("/v1.1/instances/", status_code=201, summary="Create an instance",
             openapi_extra=body_doc({**INSTANCE, "required": ["name"]}))
async def create_instance(request: Request, core: CoreDep) -> dict[str, Any]:
    key, body = await with_body(request, core)
    created = await instances.create(core, key, body)
    return syncano.instance(created, key)


@router.get("/v1.1/instances/{instance}/", summary="Get an instance")
async def get_instance(instance: str, core: CoreDep, key: Caller) -> dict[str, Any]:
    return syncano.instance(await instances.visible(core, key, instance), key)


@router.api_route(
    "/v1.1/instances/{instance}/", methods=["PUT", "PATCH"], summary="Update an instance",
    openapi_extra=body_doc(INSTANCE),
)
async def update_instance(instance: str, request: Request, core: CoreDep) -> dict[str, Any]:
    key, body = await with_body(request, core)
    return syncano.instance(await instances.update(core, key, instance, body), key)


@router.delete("/v1.1/instances/{instance}/", status_code=204, summary="Delete an instance")
async def delete_instance(instance: str, core: CoreDep, key: Caller) -> Response:
    await instances.delete(core, key, instance)
    return Response(status_code=204)


@router.get("/v1.1/instances/{instance}/snippets/config/", summary="Get the instance config")
async def get_config(instance: str, core: CoreDep, key: Caller) -> dict[str, Any]:
    return {"config": (await instances.visible(core, key, instance)).config}


@router.api_route(
    "/v1.1/instances/{instance}/snippets/config/", methods=["PUT", "PATCH"],
    summary="Replace the instance config (seen by every script as CONFIG)",
    openapi_extra=body_doc(INSTANCE_CONFIG),
)
async def update_config(instance: str, request: Request, core: CoreDep) -> dict[str, Any]:
    key, body = await with_body(request, core)
    updated = await instances.update_config(core, key, instance, body.get("config", {}))
    return {"config": updated.config}
