"""Services as /rest/instance/service, /rest/query/service and /rest/search show them."""

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
from runplane.errors import Invalid
from runplane.model import Instance, Service


def render_service(service: Service) -> Record:
    return {"type": service.type, **service_fields(service), "id": service.id}


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


def _by(name: str) -> Callable[[Record], str]:
    """A sort key: the record's `name` as eNMS's tables compare it."""
    return lambda record: string_form(record.get(name))


async def _search(core: Core, instance: Instance, search: SearchRequest) -> list[Record]:
    records = [record for record in await _all_services(core, instance)
               if all(matches(item, string_form(record.get(item.property)))
                      for item in search.filters)]
    for name, descending in reversed(search.order):
        records.sort(key=_by(name), reverse=descending)
    return records[search.start:search.start + search.limit]


async def _get(core: Core, instance: Instance, name: str) -> Record:
    return render_service(await service_core.get(core, instance, name))


async def _delete(core: Core, instance: Instance, name: str) -> Record:
    return render_service(await service_core.delete(core, instance, name))


async def _save_one(core: Core, instance: Instance, given: Any) -> str:
    return (await service_core.save(core, instance, given)).name


SERVICE_TYPE = InstanceType(
    save_one=_save_one, save_many=_save_many, get=_get, delete=_delete, query=_query,
    search=_search,
)
