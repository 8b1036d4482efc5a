"""Pools: a manual list of devices, or property filters resolved whenever the pool is used.

Created or updated by name. An update changes what it gives: flat `device_<property>` keys
change those filters and keep the others (an empty value removes one); a structured
`filters` object replaces them all; `devices` replaces a manual pool's members. Without
`manually_defined`, a pool given `devices` and no filter is manual.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from runplane.clock import utcnow
from runplane.core import validation
from runplane.core.context import Core
from runplane.core.inventory import SaveReport, no_device, object_name, save_each
from runplane.core.pool_filters import (
    PREFIX,
    boolean,
    flat_filters,
    matches,
    string_form,
    structured_filters,
    to_flat,
    to_stored,
)
from runplane.core.search import SearchRequest
from runplane.errors import Invalid, NotFound
from runplane.model import Device, Instance, Pool
from runplane.store import devices as device_store
from runplane.store import pools as store
from runplane.store.filters import REGEX, PropertyFilter
from runplane.store.unit import Tx

DESCRIPTION_MAX_CHARS = 4096
UNKNOWN_SHOWN = 5
# Keys of an eNMS pool export (or of our own answers) that are not runplane pool data.
IGNORED_KEYS = frozenset({
    "id", "type", "instance_id", "created_at", "updated_at", "device_count", "device_number",
    "link_number", "last_modified", "creator", "latitude", "longitude", "links", "services",
    "runs", "tasks", "users", "never_update", "admin_only", "owners", "access", "public",
    "rbac_read", "rbac_edit", "rbac_run", "operator",
    # eNMS's relation to credentials, set on the credential (its device_pools).
    "credential_devices",
})
KNOWN_KEYS = frozenset({"name", "description", "manually_defined", "devices", "filters"})


def no_pool(name: str) -> str:
    return f"No pool with the name '{name}'"


@dataclass(frozen=True)
class PoolView:
    """A pool with what answers show of it: its members (a filter pool's as of now) and
    its size."""

    pool: Pool
    members: list[str]
    device_count: int

    @property
    def filters(self) -> list[PropertyFilter]:
        return store.active_filters(self.pool)


@dataclass(frozen=True)
class PoolInput:
    name: str
    description: str | None
    manually_defined: bool | None
    devices: list[str] | None
    flat: dict[str, PropertyFilter | None]
    structured: dict[str, PropertyFilter | None] | None


def _device_names(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Invalid.field("devices", "Must be a list of device names.")
    return value


def _check_other_keys(given: Mapping[str, Any]) -> None:
    errors: dict[str, list[str]] = {}
    for key, value in given.items():
        if key in KNOWN_KEYS or key in IGNORED_KEYS or key.startswith(PREFIX):
            continue
        if value in ("", None, [], {}, False) or key.endswith("_match"):
            continue
        if key.startswith("link_"):
            errors[key] = ["Link filters are not supported: runplane pools hold devices."]
        else:
            errors[key] = ["Unknown field."]
    if given.get("operator", "all") not in ("all", "", None):
        errors["operator"] = ['Only "all" (every filter must hold) is supported.']
    if errors:
        raise Invalid(errors)


def pool_input(given: Any) -> PoolInput:
    """A create-or-update from a JSON object in eNMS's flat form or runplane's structured one."""
    if not isinstance(given, dict):
        raise Invalid.field("non_field_errors", "Expected a JSON object.")
    errors: dict[str, list[str]] = {}
    parsed: dict[str, Any] = {}
    checks: dict[str, Callable[[], Any]] = {
        "name": lambda: object_name(given.get("name")),
        "description": lambda: validation.text(
            "description", given["description"], max_chars=DESCRIPTION_MAX_CHARS
        ) if "description" in given else None,
        "manually_defined": lambda: boolean("manually_defined", given["manually_defined"])
        if "manually_defined" in given else None,
        "devices": lambda: _device_names(given["devices"]) if "devices" in given else None,
        # device_count and device_number are answers' sizes, not filters on "count"/"number".
        "flat": lambda: flat_filters({k: v for k, v in given.items() if k not in IGNORED_KEYS}),
        "structured": lambda: structured_filters(given["filters"])
        if given.get("filters") is not None else None,
        "others": lambda: _check_other_keys(given),
    }
    for key, check in checks.items():
        try:
            parsed[key] = check()
        except Invalid as error:
            errors.update(error.fields)
    if errors:
        raise Invalid(errors)
    parsed.pop("others")
    return PoolInput(**parsed)


def _unknown(names: Sequence[str]) -> str:
    shown = ", ".join(f"'{name}'" for name in names[:UNKNOWN_SHOWN])
    more = f" and {len(names) - UNKNOWN_SHOWN} more" if len(names) > UNKNOWN_SHOWN else ""
    if len(names) == 1:
        return no_device(names[0]) + "."
    return f"No devices with the names {shown}{more}."


def _filters(item: PoolInput, existing: Pool | None) -> dict[str, PropertyFilter]:
    """The pool's filters after this update."""
    keep = existing is not None and not existing.manually_defined and item.structured is None
    current = {f.property: f for f in store.active_filters(existing)} if keep and existing else {}
    if item.structured is not None:
        current = {name: f for name, f in item.structured.items() if f is not None}
    for name, made in item.flat.items():
        if made is None:
            current.pop(name, None)
        else:
            current[name] = made
    return current


def _is_manual(item: PoolInput, existing: Pool | None) -> bool:
    if item.manually_defined is not None:
        return item.manually_defined
    # Devices and no filter is what the client meant: a manual pool.
    if item.devices is not None and not any(item.flat.values()) and not item.structured:
        return True
    return existing is not None and existing.manually_defined


def _save(conn: Tx, instance: Instance, item: PoolInput) -> Pool:
    """Validate against the database, then write (nothing is written if Invalid is raised)."""
    existing = store.get_pool(conn, instance.id, item.name)
    manual = _is_manual(item, existing)
    filters = _filters(item, existing)
    if manual and (any(item.flat.values()) or item.structured):
        raise Invalid.field("manually_defined", "A manually defined pool lists its devices; "
                            "it has no filters (set manually_defined: false to use filters).")
    if manual:
        filters = {}
    for name, made in filters.items():
        complaint = store.regex_accepted(conn, made.value) if made.match == REGEX else None
        if complaint:
            raise Invalid.field(PREFIX + name, f"Invalid regular expression {made.value!r} for "
                                               f"this database: {complaint}")
    member_ids: set[int] | None = None
    if manual and item.devices is not None:
        ids = device_store.device_ids(conn, instance.id, item.devices)
        missing = sorted({name for name in item.devices if name not in ids})
        if missing:
            raise Invalid.field("devices", _unknown(missing))
        member_ids = set(ids.values())
    if existing is not None and existing.manually_defined and not manual:
        member_ids = set()  # a manual pool turned filter pool keeps no list
    fields: dict[str, Any] = {"manually_defined": manual, "filters": to_stored(filters)}
    if item.description is not None:
        fields["description"] = item.description
    return _write(conn, instance, item.name, existing, fields, member_ids)


def _write(
    conn: Tx, instance: Instance, name: str, existing: Pool | None,
    fields: dict[str, Any], member_ids: set[int] | None,
) -> Pool:
    """Insert, or update what changed (a pool saved as it was keeps its updated_at)."""
    now = utcnow()
    if existing is None:
        pool = store.insert_pool(
            conn, instance_id=instance.id, fields={"name": name, **fields}, now=now
        )
        if member_ids:
            store.set_members(conn, pool.id, member_ids)
        return pool
    if member_ids is not None and member_ids == store.member_ids(conn, existing.id):
        member_ids = None
    if member_ids is None and all(getattr(existing, key) == value
                                  for key, value in fields.items()):
        return existing
    pool = store.update_pool(conn, existing.id, fields, now)
    if member_ids is not None:
        store.set_members(conn, pool.id, member_ids)
    return pool


async def save_pool(core: Core, instance: Instance, given: Any) -> Pool:
    item = pool_input(given)

    def save(conn: Tx) -> Pool:
        device_store.lock_inventory(conn, instance.id)
        return _save(conn, instance, item)

    return await core.database.write(save)


async def save_pools(core: Core, instance: Instance, items: Sequence[Any]) -> SaveReport:
    """Create or update many pools in one transaction; invalid ones are reported, not fatal."""
    return await save_each(core, instance, items, pool_input, _save)


def _view(conn: Tx, instance: Instance, pool: Pool) -> PoolView:
    # A filter pool's members are computed now: eNMS clients read `devices` of every pool.
    members = (store.member_names(conn, pool.id) if pool.manually_defined
               else store.pool_device_names(conn, instance.id, pool))
    return PoolView(pool=pool, members=members, device_count=len(members))


async def get_pool(core: Core, instance: Instance, name: str) -> PoolView:
    def view(conn: Tx) -> PoolView:
        pool = store.get_pool(conn, instance.id, name)
        if pool is None:
            raise NotFound("Pool", no_pool(name) + ".")
        return _view(conn, instance, pool)

    return await core.database.read(view)


async def delete_pool(core: Core, instance: Instance, name: str) -> PoolView:
    """Delete a pool (its devices stay); answers it as it was."""
    def delete(conn: Tx) -> PoolView:
        device_store.lock_inventory(conn, instance.id)
        pool = store.get_pool(conn, instance.id, name)
        if pool is None:
            raise NotFound("Pool", no_pool(name) + ".")
        view = _view(conn, instance, pool)
        store.delete_pool(conn, pool.id)
        return view

    return await core.database.write(delete)


async def device_and_pools(core: Core, instance: Instance, name: str
                           ) -> tuple[Device, list[str]]:
    """A device and the names of the pools holding it now (manual or filter pools)."""
    def read(conn: Tx) -> tuple[Device, list[str]]:
        device = device_store.get_device(conn, instance.id, name)
        if device is None:
            raise NotFound("Device", no_device(name) + ".")
        return device, store.pools_holding(conn, instance.id, device.id)

    return await core.database.read(read)


def pool_attributes(view: PoolView) -> dict[str, Any]:
    """What a pool query or search compares: its own fields and its flat filters."""
    return {
        "name": view.pool.name,
        "description": view.pool.description,
        "manually_defined": view.pool.manually_defined,
        "device_count": view.device_count,
        "device_number": view.device_count,
        **to_flat(view.filters),
    }


async def _all_views(core: Core, instance: Instance) -> list[PoolView]:
    def views(conn: Tx) -> list[PoolView]:
        return [_view(conn, instance, pool) for pool in store.list_pools(conn, instance.id)]

    return await core.database.read(views)


async def query_pools(core: Core, instance: Instance, equals: Mapping[str, str]
                      ) -> list[PoolView]:
    """Pools whose fields (as text: true/false, numbers) equal the given values, by name."""
    found = [
        view for view in await _all_views(core, instance)
        if all(string_form(pool_attributes(view).get(key)) == value
               for key, value in equals.items())
    ]
    return sorted(found, key=lambda view: view.pool.name)


def _sort_key(value: Any) -> tuple[int, float, str]:
    """Numbers (device_count) in numeric order, before any text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, string_form(value))


async def search_pools(core: Core, instance: Instance, search: SearchRequest) -> list[PoolView]:
    views = [
        view for view in await _all_views(core, instance)
        if all(matches(item, string_form(pool_attributes(view).get(item.property)))
               for item in search.filters)
    ]
    views.sort(key=lambda view: view.pool.name)
    for name, descending in reversed(search.order):
        views.sort(key=partial(_view_sort_key, name), reverse=descending)
    return views[search.start:search.start + search.limit]


def _view_sort_key(name: str, view: PoolView) -> Any:
    return _sort_key(pool_attributes(view).get(name))
