"""Scripts: code, a runtime and a config, numbered per instance."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runplane.clock import utcnow
from runplane.core import validation
from runplane.core.access import Role, require
from runplane.core.context import Core
from runplane.core.instances import find as find_instance
from runplane.core.runtimes import check_runtime
from runplane.errors import NUL_MESSAGE, Invalid, NotFound
from runplane.model import ApiKey, Instance, Page, Script
from runplane.store import instances as instance_store
from runplane.store import scripts as store
from runplane.store.unit import Tx

LABEL_MAX_CHARS = 256
DESCRIPTION_MAX_CHARS = 4096


def _source(core: Core, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid.field("source", "Not a valid string.")
    if "\x00" in value:  # PostgreSQL text cannot hold NUL
        raise Invalid.field("source", NUL_MESSAGE)
    limit = core.settings.source_max_bytes
    if len(value.encode()) > limit:
        raise Invalid.field("source", f"Ensure this field has no more than {limit} bytes.")
    return value


def _fields(core: Core, given: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Validated columns from a create / update body (PUT and POST need label and runtime)."""
    checks: dict[str, Callable[[Any], Any]] = {
        "label": lambda v: validation.text("label", v, max_chars=LABEL_MAX_CHARS, required=True),
        "description": lambda v: validation.text(
            "description", v, max_chars=DESCRIPTION_MAX_CHARS
        ),
        "source": lambda v: _source(core, v),
        "runtime_name": check_runtime,
        "config": lambda v: validation.config(v, core.settings),
    }
    fields: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, check in checks.items():
        if name not in given and (partial or name not in ("label", "runtime_name")):
            continue
        try:
            fields[name] = check(given.get(name))
        except Invalid as error:
            errors.update(error.fields)
    if errors:
        raise Invalid(errors)
    return fields


async def create(core: Core, key: ApiKey, instance_name: str, given: dict[str, Any]) -> Script:
    instance = await find_instance(core, instance_name)
    require(key, Role.write, instance)
    fields = {"description": "", "source": "", "config": {}, **_fields(core, given, partial=False)}

    def insert(conn: Tx) -> Script:
        number = instance_store.next_script_number(conn, instance.id)
        return store.insert_script(
            conn, instance_id=instance.id, number=number, fields=fields, now=utcnow()
        )

    return await core.database.write(insert)


def found(script: Script | None) -> Script:
    if script is None:
        raise NotFound("Script", "Not found.")
    return script


async def find(core: Core, instance: Instance, number: int) -> Script:
    return found(await core.database.read_small(store.get_script, instance.id, number))


async def get(core: Core, key: ApiKey, instance_name: str, number: int) -> Script:
    instance = await find_instance(core, instance_name)
    require(key, Role.read, instance)
    return await find(core, instance, number)


async def list_scripts(
    core: Core, key: ApiKey, instance_name: str, *, after: int | None, limit: int,
    descending: bool,
) -> Page[Script]:
    instance = await find_instance(core, instance_name)
    require(key, Role.read, instance)
    return await core.database.read(
        store.list_scripts, instance.id, after=after, limit=limit, descending=descending,
    )


async def update(
    core: Core, key: ApiKey, instance_name: str, number: int, given: dict[str, Any], *,
    partial: bool,
) -> Script:
    instance = await find_instance(core, instance_name)
    require(key, Role.write, instance)
    script = await find(core, instance, number)
    fields = _fields(core, given, partial=partial)
    if not fields:
        return script
    return await core.database.write(store.update_script, script.id, fields, utcnow())


async def delete(core: Core, key: ApiKey, instance_name: str, number: int) -> None:
    """Delete a script with its traces and endpoints (a queued run of it will not start)."""
    instance = await find_instance(core, instance_name)
    require(key, Role.write, instance)
    script = await find(core, instance, number)
    await core.database.write(store.delete_script, script.id)
