"""The `device` and `pool` namespaces: create, get, list, update, delete (by name)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict

from runplane.api.batch_door.actions.common import ListParams, window
from runplane.api.batch_door.actions.registry import Action, Params
from runplane.clock import utcnow
from runplane.core import inventory, pools
from runplane.core.access import Role, require
from runplane.core.job_set import JobContext
from runplane.errors import Conflict
from runplane.model import Device, Pool


class Named(Params):
    name: str


class ObjectFields(Params):
    """A device's or pool's fields by their eNMS names; other keys are custom properties
    (devices) or flat `device_<property>` filters (pools), checked by the inventory core."""

    model_config = ConfigDict(extra="allow")
    name: str


def device_answer(device: Device) -> dict[str, Any]:
    return device.attributes()


def pool_answer(view: pools.PoolView) -> dict[str, Any]:
    return {**pools.pool_attributes(view), "devices": view.members}


def is_new(made: Device | Pool, since: datetime) -> bool:
    """Whether a create-or-update created: a new row's two stamps are the same, and recent.

    `create` is atomic (registry.py): raising after an update undoes it, so the
    inventory's create-or-update is used as a create without a look beforehand.
    """
    return made.created_at == made.updated_at and made.created_at >= since


def exists(kind: str, name: str) -> Conflict:
    return Conflict("name", f"A {kind} named '{name}' already exists.")


async def create_device(context: JobContext, params: ObjectFields) -> dict[str, Any]:
    require(context.key, Role.write, context.instance)
    since = utcnow()
    made = await inventory.save_device(context.core, context.instance, params.model_dump())
    if not is_new(made, since):
        raise exists("device", params.name)
    return device_answer(made)


async def get_device(context: JobContext, params: Named) -> dict[str, Any]:
    require(context.key, Role.read, context.instance)
    return device_answer(await inventory.get_device(context.core, context.instance, params.name))


async def list_devices(context: JobContext, params: ListParams) -> dict[str, Any]:
    require(context.key, Role.read, context.instance)
    found = await inventory.query_devices(context.core, context.instance, params.filters)
    return window([device_answer(device) for device in found], params)


async def update_device(context: JobContext, params: ObjectFields) -> dict[str, Any]:
    require(context.key, Role.write, context.instance)
    await inventory.get_device(context.core, context.instance, params.name)  # NotFound
    changed = await inventory.save_device(context.core, context.instance, params.model_dump())
    return device_answer(changed)


async def delete_device(context: JobContext, params: Named) -> dict[str, Any]:
    require(context.key, Role.write, context.instance)
    gone = await inventory.delete_device(context.core, context.instance, params.name)
    return {"deleted": True, "name": gone.name}


async def create_pool(context: JobContext, params: ObjectFields) -> dict[str, Any]:
    require(context.key, Role.write, context.instance)
    since = utcnow()
    made = await pools.save_pool(context.core, context.instance, params.model_dump())
    if not is_new(made, since):
        raise exists("pool", params.name)
    return pool_answer(await pools.get_pool(context.core, context.instance, params.name))


async def get_pool(context: JobContext, params: Named) -> dict[str, Any]:
    require(context.key, Role.read, context.instance)
    return pool_answer(await pools.get_pool(context.core, context.instance, params.name))


async def list_pools(context: JobContext, params: ListParams) -> dict[str, Any]:
    require(context.key, Role.read, context.instance)
    found = await pools.query_pools(context.core, context.instance, params.filters)
    return window([pool_answer(view) for view in found], params)


async def update_pool(context: JobContext, params: ObjectFields) -> dict[str, Any]:
    require(context.key, Role.write, context.instance)
    await pools.get_pool(context.core, context.instance, params.name)  # NotFound
    await pools.save_pool(context.core, context.instance, params.model_dump())
    return pool_answer(await pools.get_pool(context.core, context.instance, params.name))


async def delete_pool(context: JobContext, params: Named) -> dict[str, Any]:
    require(context.key, Role.write, context.instance)
    gone = await pools.delete_pool(context.core, context.instance, params.name)
    return {"deleted": True, "name": gone.pool.name}


DEVICE_ACTIONS: dict[str, Action] = {
    "create": Action(ObjectFields, create_device),
    "get": Action(Named, get_device),
    "list": Action(ListParams, list_devices),
    "update": Action(ObjectFields, update_device),
    "delete": Action(Named, delete_device),
}

POOL_ACTIONS: dict[str, Action] = {
    "create": Action(ObjectFields, create_pool),
    "get": Action(Named, get_pool),
    "list": Action(ListParams, list_pools),
    "update": Action(ObjectFields, update_pool),
    "delete": Action(Named, delete_pool),
}
