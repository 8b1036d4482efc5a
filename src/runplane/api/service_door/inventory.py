"""eNMS's inventory REST surface: /rest/is_alive, /rest/instance, /rest/query, /rest/search.

`INSTANCE_TYPES` maps a type name of `/rest/instance/{type}` (and of query and search) to
what the core does for it: devices and pools here, credentials from credential_records.py,
services from service_records.py.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from runplane.api.core_dependency import CoreDep
from runplane.api.openapi_docs import body_doc
from runplane.api.service_door.auth import Reader, Writer
from runplane.api.service_door.body import json_body
from runplane.api.service_door.credential_records import CREDENTIAL_TYPE
from runplane.api.service_door.errors import Alert, ServiceDoorRoute
from runplane.api.service_door.instance_types import InstanceType, Record
from runplane.api.service_door.openapi_bodies import (
    SAVE_INSTANCES,
    SEARCH,
    TYPE_NAMES,
)
from runplane.api.service_door.service_records import SERVICE_TYPE, SERVICE_TYPES
from runplane.api.service_door.timestamps import render_time
from runplane.core import inventory, pools
from runplane.core.context import Core
from runplane.core.inventory import SaveReport
from runplane.core.pool_filters import to_flat
from runplane.core.search import parse_search
from runplane.model import DEVICE_COLUMNS, Device, Instance

router = APIRouter(route_class=ServiceDoorRoute, tags=["service door: inventory"])
# runplane has no clusters: every process on one database answers the same id.
CLUSTER_ID = 0
# eNMS's Device.port default.
DEFAULT_PORT = 22
# The known types, listed for /docs only: an unknown one is answered by instance_type().
TypeName = Annotated[str, Path(json_schema_extra={"enum": TYPE_NAMES})]

def render_device(device: Device) -> Record:
    """A device as eNMS showed it: its columns with its custom properties beside them. An
    unset `port` reads as eNMS's default, 22 (stored unset: filters on port still see "")."""
    record: Record = {
        "id": device.id, "type": "device",
        **{name: getattr(device, name) for name in DEVICE_COLUMNS},
        **device.properties,
        "created_at": render_time(device.created_at), "updated_at": render_time(device.updated_at),
    }
    if record.get("port") is None:
        record["port"] = DEFAULT_PORT
    return record


async def _device_with_pools(core: Core, instance: Instance, name: str) -> Record:
    """GET of a device: eNMS's relations by name, here the pools holding it now."""
    device, held = await pools.device_and_pools(core, instance, name)
    return {**render_device(device), "pools": held}


def render_pool(view: pools.PoolView) -> Record:
    """A pool: its filters in eNMS's flat form, its devices (a filter pool's as of now) and
    its size, as eNMS's `device_number` and runplane's `device_count`."""
    pool = view.pool
    return {
        "id": pool.id, "type": "pool", "name": pool.name, "description": pool.description,
        "manually_defined": pool.manually_defined, **to_flat(view.filters),
        "devices": view.members, "device_number": view.device_count,
        "device_count": view.device_count, "created_at": render_time(pool.created_at),
        "updated_at": render_time(pool.updated_at),
    }


# What eNMS's search rows hold beside the asked columns (its table_properties with
# rest_api_request: devices nothing else; others `type` and their tables' extra columns).
SEARCH_EXTRAS: dict[str, tuple[str, ...]] = {
    "device": (), "pool": ("type", "device_number"), "service": ("type", "scoped_name"),
    "credential": ("type",),
}


def _columns(kind: str, record: Record, columns: list[str] | None) -> Record:
    """eNMS's search records: the asked columns the object has, and its type's extras."""
    if columns is None:
        return record
    wanted = [*columns, *SEARCH_EXTRAS.get(kind, ("type",))]
    return {name: record[name] for name in dict.fromkeys(wanted) if name in record}


def failure_list(given: list[Any], report: SaveReport,
                 as_sent: Callable[[Any], Any] = lambda item: item) -> list[list[Any]]:
    """eNMS's `failure`: `[object as sent, reason]` pairs."""
    return [[as_sent(given[failure.index]), failure.error] for failure in report.failure]


async def _save_device(core: Core, instance: Instance, given: Any) -> str:
    return (await inventory.save_device(core, instance, given)).name


async def _save_pool(core: Core, instance: Instance, given: Any) -> str:
    return (await pools.save_pool(core, instance, given)).name


DEVICE_TYPE = InstanceType(
    save_one=_save_device,
    save_many=inventory.save_devices,
    get=_device_with_pools,
    delete=lambda core, instance, name: _one(
        render_device, inventory.delete_device(core, instance, name)
    ),
    query=lambda core, instance, equals: _many(
        render_device, inventory.query_devices(core, instance, equals)
    ),
    search=lambda core, instance, search: _many(
        render_device, inventory.search_devices(core, instance, search)
    ),
)
POOL_TYPE = InstanceType(
    save_one=_save_pool,
    save_many=pools.save_pools,
    get=lambda core, instance, name: _one(render_pool, pools.get_pool(core, instance, name)),
    delete=lambda core, instance, name: _one(render_pool, pools.delete_pool(core, instance, name)),
    query=lambda core, instance, equals: _many(
        render_pool, pools.query_pools(core, instance, equals)
    ),
    search=lambda core, instance, search: _many(
        render_pool, pools.search_pools(core, instance, search)
    ),
)
INSTANCE_TYPES: dict[str, InstanceType] = {
    "device": DEVICE_TYPE, "pool": POOL_TYPE, "credential": CREDENTIAL_TYPE,
    "service": SERVICE_TYPE, **SERVICE_TYPES,
}


async def _one(render: Callable[[Any], Record], found: Awaitable[Any]) -> Record:
    return render(await found)


async def _many(render: Callable[[Any], Record], found: Awaitable[list[Any]]) -> list[Record]:
    return [render(item) for item in await found]


def instance_type(name: str) -> InstanceType:
    found = INSTANCE_TYPES.get(name)
    if found is None:
        known = ", ".join(sorted(INSTANCE_TYPES))
        raise Alert(404, f"Unknown instance type '{name}' (known: {known}).")
    return found


@router.get("/rest/is_alive", summary="Is the server up (no key needed)")
async def is_alive() -> Record:
    return {"name": socket.gethostname(), "cluster_id": CLUSTER_ID}


@router.post(
    "/rest/instance/{type}", summary="Create or update by name: one object or a list",
    openapi_extra=body_doc(SAVE_INSTANCES, {"name": "Washington", "vendor": "Cisco"}),
)
async def save_instances(type: TypeName, request: Request, core: CoreDep, caller: Writer) -> Record:
    kind = instance_type(type)
    body = await json_body(request)
    if isinstance(body, dict):
        # One object: a refusal is this request's error (400 alert, a field per problem).
        return {"success": [await kind.save_one(core, caller.instance, body)]}
    if not isinstance(body, list):
        raise Alert(400, "Expected a JSON object or a list of objects.")
    report = await kind.save_many(core, caller.instance, body)
    # eNMS's answer holds a key only for what happened (it filled a defaultdict(list)).
    answer: Record = {}
    if report.success:
        answer["success"] = report.success
    if report.failure:
        answer["failure"] = failure_list(body, report, kind.as_sent)
    return answer


@router.get("/rest/instance/{type}/{name}", summary="Get one by name")
async def get_instance(type: TypeName, name: str, core: CoreDep, caller: Reader) -> Record:
    return await instance_type(type).get(core, caller.instance, name)


@router.delete("/rest/instance/{type}/{name}", summary="Delete one by name (answers it as it was)")
async def delete_instance(type: TypeName, name: str, core: CoreDep, caller: Writer) -> Record:
    return await instance_type(type).delete(core, caller.instance, name)


@router.get("/rest/query/{type}", summary="Every object whose properties equal ?property=value")
async def query_instances(
    type: TypeName, request: Request, core: CoreDep, caller: Reader
) -> list[Record]:
    kind = instance_type(type)
    # ?instance= picks the instance (see auth.service_instance); it is no filter.
    equals = {key: value for key, value in request.query_params.items() if key != "instance"}
    return await kind.query(core, caller.instance, equals)


@router.post(
    "/rest/search", summary="eNMS's table search: columns, criteria, order, window",
    openapi_extra=body_doc(SEARCH, {"type": "device", "columns": ["name"],
                                     "search_criteria": {"vendor": "Cisco"}}),
)
async def search(request: Request, core: CoreDep, caller: Reader) -> list[Record]:
    wanted = parse_search(await json_body(request))
    found = await instance_type(wanted.type).search(core, caller.instance, wanted)
    return [_columns(wanted.type, record, wanted.columns) for record in found]


@router.post("/rest/update_all_pools", summary="Accepted for eNMS clients; nothing to do")
async def update_all_pools(caller: Writer) -> None:
    """eNMS stored filter pools' members and recomputed them here. runplane resolves a filter
    pool's devices whenever it is read or run, so they are always current: nothing to do."""
    return None
