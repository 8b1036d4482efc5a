"""Services as /rest/instance/service, /rest/query/service and /rest/search show them, and
as /rest/instance/{type} does for each service type (python_snippet_service...), as eNMS:
there the type is the path's, and `scoped_name` (eNMS's own name of a service) names it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runplane.api.dialects.enms import service_fields
from runplane.api.service_door.instance_types import InstanceType, Record
from runplane.core import services as service_core
from runplane.core.context import Core
from runplane.core.inventory import Failure, SaveReport, describe
from runplane.core.pool_filters import matches, string_form
from runplane.core.search import SearchRequest
from runplane.errors import Invalid, NotFound
from runplane.model import Instance, Service


def render_service(service: Service) -> Record:
    # A service outside any workflow: eNMS's `scoped_name` is its name.
    return {"type": service.type, **service_fields(service), "scoped_name": service.name,
            "id": service.id}


def as_given(given: Any, kind: str | None) -> Any:
    """A saved object as the core takes it: named by `scoped_name` when `name` is missing,
    of the path's type (`kind`; None: /rest/instance/service, the body's `type`)."""
    if not isinstance(given, dict):
        return given
    named = given if "name" in given else {**given, "name": given.get("scoped_name")}
    return named if kind is None else {**named, "type": kind}


async def _all_services(core: Core, instance: Instance, kind: str | None) -> list[Record]:
    page = await service_core.list_services(core, instance, limit=10_000)
    return [render_service(service) for service in page.items
            if kind is None or service.type == kind]


async def _save_many(core: Core, instance: Instance, items: list[Any], kind: str | None
                     ) -> SaveReport:
    success: list[str] = []
    failure: list[Failure] = []
    for index, given in enumerate(items):
        try:
            success.append((await service_core.save(core, instance, as_given(given, kind))).name)
        except Invalid as error:
            name = given.get("name") if isinstance(given, dict) else None
            failure.append(Failure(index, name if isinstance(name, str) else None,
                                   describe(error)))
    return SaveReport(success=success, failure=failure)


async def _query(core: Core, instance: Instance, equals: dict[str, str], kind: str | None
                 ) -> list[Record]:
    return [record for record in await _all_services(core, instance, kind)
            if all(string_form(record.get(name)) == value for name, value in equals.items())]


def _by(name: str) -> Callable[[Record], str]:
    """A sort key: the record's `name` as eNMS's tables compare it."""
    return lambda record: string_form(record.get(name))


async def _search(core: Core, instance: Instance, search: SearchRequest, kind: str | None
                  ) -> list[Record]:
    records = [record for record in await _all_services(core, instance, kind)
               if all(matches(item, string_form(record.get(item.property)))
                      for item in search.filters)]
    for name, descending in reversed(search.order):
        records.sort(key=_by(name), reverse=descending)
    return records[search.start:search.start + search.limit]


async def _found(core: Core, instance: Instance, name: str, kind: str | None) -> Service:
    """The service `name`, if of the path's type: another type's is unknown there."""
    service = await service_core.get(core, instance, name)
    if kind is not None and service.type != kind:
        raise NotFound("Service", f"Service '{name}' not found.")
    return service


def service_type(kind: str | None) -> InstanceType:
    """/rest/instance/{kind} for one service type, or for every service (kind None)."""

    async def save_one(core: Core, instance: Instance, given: Any) -> str:
        return (await service_core.save(core, instance, as_given(given, kind))).name

    async def save_many(core: Core, instance: Instance, items: list[Any]) -> SaveReport:
        return await _save_many(core, instance, items, kind)

    async def get(core: Core, instance: Instance, name: str) -> Record:
        return render_service(await _found(core, instance, name, kind))

    async def delete(core: Core, instance: Instance, name: str) -> Record:
        service = await _found(core, instance, name, kind)
        return render_service(await service_core.delete(core, instance, service.name))

    async def query(core: Core, instance: Instance, equals: dict[str, str]) -> list[Record]:
        return await _query(core, instance, equals, kind)

    async def search(core: Core, instance: Instance, wanted: SearchRequest) -> list[Record]:
        return await _search(core, instance, wanted, kind)

    return InstanceType(save_one=save_one, save_many=save_many, get=get, delete=delete,
                        query=query, search=search)


SERVICE_TYPE = service_type(None)
SERVICE_TYPES = {kind: service_type(kind) for kind in service_core.TYPES}
