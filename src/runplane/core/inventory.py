"""Devices: validated, created or updated by name (eNMS semantics), one or thousands at once."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from runplane.clock import utcnow
from runplane.core import validation
from runplane.core.context import Core
from runplane.core.pool_filters import BAD_PROPERTY, PROPERTY_NAME, make_filter
from runplane.core.search import SearchRequest
from runplane.errors import Invalid, NotFound
from runplane.model import Device, Instance
from runplane.store import devices as store
from runplane.store.devices import DeviceInput
from runplane.store.filters import EQUALITY, PropertyFilter
from runplane.store.unit import Tx

NAME_MAX_CHARS = 256
TEXT_MAX_CHARS = 256
IP_MAX_CHARS = 64
DESCRIPTION_MAX_CHARS = 4096
PROPERTIES_MAX = 256
PROPERTIES_MAX_BYTES = 64 * 1024
# /rest/query answers every match: past this many it asks for a narrower query instead.
QUERY_MAX_RECORDS = 10_000
# eNMS refused these in names; they would also break /rest/instance/device/{name} paths.
NAME_FORBIDDEN = frozenset("/\\'\"")
# Keys of an eNMS export or of our own answers that are not device data.
# `pools` is eNMS's relation, shown on a device by name: membership is set on the pools.
IGNORED_KEYS = frozenset({"id", "type", "instance_id", "created_at", "updated_at", "pools"})
TEXT_FIELDS = {
    "ip_address": IP_MAX_CHARS, "vendor": TEXT_MAX_CHARS, "model": TEXT_MAX_CHARS,
    "operating_system": TEXT_MAX_CHARS, "os_version": TEXT_MAX_CHARS,
    "location": TEXT_MAX_CHARS, "description": DESCRIPTION_MAX_CHARS,
}


def no_device(name: str) -> str:
    return f"No device with the name '{name}'"


@dataclass(frozen=True)
class Failure:
    """One object of a bulk create-or-update that was refused, and why."""

    index: int
    name: str | None
    error: str


@dataclass(frozen=True)
class SaveReport:
    success: list[str]
    failure: list[Failure]


def object_name(value: Any, field: str = "name") -> str:
    """A device or pool name: required, at most 256 characters, no slash or quote."""
    name = validation.text(field, value, max_chars=NAME_MAX_CHARS, required=True)
    if NAME_FORBIDDEN & set(name):
        raise Invalid.field(field, "Names cannot contain a slash or a quote.")
    return name


def _text(field: str, value: Any, max_chars: int) -> str:
    # YAML and spreadsheets turn versions like 15.2 into numbers: take them as text.
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    return validation.text(field, value, max_chars=max_chars)


def _port(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise Invalid.field("port", "Must be an integer from 1 to 65535, or null.")
    return value


def _properties(given: Mapping[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    extra = given.get("properties", {})
    if not isinstance(extra, dict):
        raise Invalid.field("properties", "Must be an object of custom properties.")
    for key, value in [*extra.items(), *given.items()]:
        if key in IGNORED_KEYS or key in TEXT_FIELDS or key in ("name", "port", "properties"):
            continue
        if not PROPERTY_NAME.match(key):
            raise Invalid.field(key, BAD_PROPERTY)
        properties[key] = value
    if len(properties) > PROPERTIES_MAX:
        raise Invalid.field("properties", f"At most {PROPERTIES_MAX} custom properties.")
    try:
        size = validation.encoded_size(properties)
    except (TypeError, ValueError):
        raise Invalid.field("properties", "Custom properties must be JSON values.") from None
    if size > PROPERTIES_MAX_BYTES:
        raise Invalid.field("properties", f"Custom properties exceed {PROPERTIES_MAX_BYTES} bytes.")
    return properties


def device_input(given: Any) -> DeviceInput:
    """A create-or-update from a JSON object; every other key is a custom property."""
    if not isinstance(given, dict):
        raise Invalid.field("non_field_errors", "Expected a JSON object.")
    errors: dict[str, list[str]] = {}
    name = ""
    columns: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    checks: list[tuple[str, Any]] = [("name", lambda: object_name(given.get("name")))]
    for field, limit in TEXT_FIELDS.items():
        if field in given:
            checks.append((field, lambda f=field, n=limit: _text(f, given[f], n)))
    if "port" in given:
        checks.append(("port", lambda: _port(given["port"])))
    checks.append(("properties", lambda: _properties(given)))
    for field, check in checks:
        try:
            value = check()
        except Invalid as error:
            errors.update(error.fields)
            continue
        if field == "name":
            name = value
        elif field == "properties":
            properties = value
        else:
            columns[field] = value
    if errors:
        raise Invalid(errors)
    return DeviceInput(name=name, columns=columns, properties=properties)


def describe(error: Invalid) -> str:
    """One line for a report: every field's first message."""
    return "; ".join(f"{field}: {messages[0]}" if field != "non_field_errors" else messages[0]
                     for field, messages in error.fields.items())


def _name_of(given: Any) -> str | None:
    name = given.get("name") if isinstance(given, dict) else None
    return name if isinstance(name, str) else None


class Named(Protocol):
    @property
    def name(self) -> str: ...


Item = TypeVar("Item", bound=Named)


def parse_each(items: Sequence[Any], parse: Callable[[Any], Item]
               ) -> tuple[list[tuple[int, Item]], list[Failure]]:
    """Each object of a bulk create-or-update parsed (with its index); those refused, as
    failures."""
    parsed: list[tuple[int, Item]] = []
    failures: list[Failure] = []
    for index, given in enumerate(items):
        try:
            parsed.append((index, parse(given)))
        except Invalid as error:
            failures.append(Failure(index, _name_of(given), describe(error)))
    return parsed, failures


async def save_each(core: Core, instance: Instance, items: Sequence[Any],
                    parse: Callable[[Any], Item],
                    save: Callable[[Tx, Instance, Item], object]) -> SaveReport:
    """Create or update many objects in one transaction, the inventory locked: an object
    refused (by `parse`, or by `save`, which raises Invalid before it writes) is reported,
    not fatal."""
    parsed, failures = parse_each(items, parse)
    success: list[str] = []

    def write_each(conn: Tx) -> None:
        store.lock_inventory(conn, instance.id)
        for index, item in parsed:
            try:
                save(conn, instance, item)
            except Invalid as error:
                failures.append(Failure(index, item.name, describe(error)))
                continue
            success.append(item.name)

    if parsed:
        await core.database.write(write_each)
    failures.sort(key=lambda failure: failure.index)
    return SaveReport(success=success, failure=failures)


async def save_devices(core: Core, instance: Instance, items: Sequence[Any]) -> SaveReport:
    """Create or update many devices in one transaction; invalid ones are reported, not fatal."""
    parsed, failures = parse_each(items, device_input)
    valid = [item for _index, item in parsed]
    if valid:
        await core.database.write(store.upsert_devices, instance.id, valid, utcnow())
    return SaveReport(success=[item.name for item in valid], failure=failures)


async def save_device(core: Core, instance: Instance, given: Any) -> Device:
    """Create or update one device; Invalid if it is not valid."""
    item = device_input(given)

    def save(conn: Tx) -> Device | None:
        store.upsert_devices(conn, instance.id, [item], utcnow())
        return store.get_device(conn, instance.id, item.name)

    found = await core.database.write(save)
    assert found is not None
    return found


async def get_device(core: Core, instance: Instance, name: str) -> Device:
    found = await core.database.read(store.get_device, instance.id, name)
    if found is None:
        raise NotFound("Device", no_device(name) + ".")
    return found


async def delete_device(core: Core, instance: Instance, name: str) -> Device:
    """Delete a device (and its pool memberships); answers it as it was."""
    def delete(conn: Tx) -> Device:
        store.lock_inventory(conn, instance.id)
        found = store.get_device(conn, instance.id, name)
        if found is None:
            raise NotFound("Device", no_device(name) + ".")
        store.delete_device(conn, found.id)
        return found

    return await core.database.write(delete)


def equality_filters(equals: Mapping[str, str]) -> list[PropertyFilter]:
    """`?property=value` pairs as equality filters ("" matches an empty or missing property)."""
    filters: list[PropertyFilter] = []
    for name, value in equals.items():
        made = make_filter(name, value, "empty" if value == "" else EQUALITY, field=name)
        if made is not None:
            filters.append(made)
    return filters


async def query_devices(core: Core, instance: Instance, equals: Mapping[str, str]
                        ) -> list[Device]:
    """Every device whose properties equal the given values, by name."""
    filters = equality_filters(equals)
    found = await core.database.read(
        store.filter_devices, instance.id, filters, order=[("name", False)],
        limit=QUERY_MAX_RECORDS + 1,
    )
    if len(found) > QUERY_MAX_RECORDS:
        raise Invalid.field("query", f"More than {QUERY_MAX_RECORDS} devices match: narrow "
                                     "the query, or page through POST /rest/search.")
    return found


async def search_devices(core: Core, instance: Instance, search: SearchRequest) -> list[Device]:
    return await core.database.read(
        store.filter_devices, instance.id, search.filters, order=search.order, offset=search.start,
        limit=search.limit,
    )
