"""Script endpoints: named, synchronous ways to run a script (Syncano's script webhooks).

A public endpoint also answers at a secret link, without an API key.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runplane.clock import utcnow
from runplane.core import validation
from runplane.core.access import Role, require
from runplane.core.context import Core
from runplane.core.instances import find as find_instance
from runplane.core.instances import found as found_instance
from runplane.core.instances import lookup_name
from runplane.core.keys import NO_CREDENTIALS, key_of
from runplane.core.runs import queue_script_run, wait_for_run
from runplane.core.scripts import find as find_script
from runplane.core.scripts import found as found_script
from runplane.errors import Invalid, NotFound, Unauthenticated
from runplane.model import ApiKey, Instance, Page, Run, Script, ScriptEndpoint
from runplane.store import instances as instance_store
from runplane.store import scripts as store
from runplane.store.unit import Tx

NAME_PATTERN = re.compile(r"^[a-z]([a-z0-9_-]{0,62}[a-z0-9])?$")
DESCRIPTION_MAX_CHARS = 4096


def public_link() -> str:
    return secrets.token_hex(20)


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid.field("name", "This field is required.")
    name = value.strip().lower()
    if not NAME_PATTERN.match(name):
        raise Invalid.field(
            "name", "Enter a valid value: letters, numbers, underscores or hyphens, starting "
            "with a letter and ending with a letter or a number (at most 64 characters)."
        )
    return name


def _public(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    raise Invalid.field("public", "Must be a valid boolean.")


async def _script_id(core: Core, instance: Instance, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Invalid.field("script", "A valid integer is required.") from None
    try:
        if not 0 < number <= validation.ID_MAX:  # no such script; the query would fail
            raise NotFound("Script", "Not found.")
        return (await find_script(core, instance, number)).id
    except NotFound:
        raise Invalid.field(
            "script", f'Invalid pk "{number}" - object does not exist.'
        ) from None


async def _fields(
    core: Core, instance: Instance, given: dict[str, Any], *, creating: bool
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if creating:
        fields["name"] = _name(given.get("name"))
    if creating or "script" in given:
        fields["script_id"] = await _script_id(core, instance, given.get("script"))
    if "description" in given:
        fields["description"] = validation.text(
            "description", given["description"], max_chars=DESCRIPTION_MAX_CHARS
        )
    if "public" in given:
        fields["public"] = _public(given["public"])
    return fields


async def create(
    core: Core, key: ApiKey, instance_name: str, given: dict[str, Any]
) -> ScriptEndpoint:
    instance = await find_instance(core, instance_name)
    require(key, Role.write, instance)
    fields = await _fields(core, instance, given, creating=True)
    fields.setdefault("public", False)
    return await core.database.write(
        store.insert_endpoint, instance_id=instance.id,
        fields={**fields, "public_link": public_link()}, now=utcnow(),
    )


async def find(core: Core, instance: Instance, name: str) -> ScriptEndpoint:
    # A name no endpoint can have is not looked up (a NUL in it would fail the query).
    if not NAME_PATTERN.match(name.lower()):
        raise NotFound("Script Endpoint", "Not found.")
    endpoint = await core.database.read_small(store.get_endpoint, instance.id, name.lower())
    if endpoint is None:
        raise NotFound("Script Endpoint", "Not found.")
    return endpoint


async def get(core: Core, key: ApiKey, instance_name: str, name: str) -> ScriptEndpoint:
    instance = await find_instance(core, instance_name)
    require(key, Role.read, instance)
    return await find(core, instance, name)


async def list_endpoints(
    core: Core, key: ApiKey, instance_name: str, *, after: int | None, limit: int,
    descending: bool,
) -> Page[ScriptEndpoint]:
    instance = await find_instance(core, instance_name)
    require(key, Role.read, instance)
    return await core.database.read(
        store.list_endpoints, instance.id, after=after, limit=limit, descending=descending,
    )


async def update(
    core: Core, key: ApiKey, instance_name: str, name: str, given: dict[str, Any], *,
    reset_link: bool = False,
) -> ScriptEndpoint:
    instance = await find_instance(core, instance_name)
    require(key, Role.write, instance)
    endpoint = await find(core, instance, name)
    fields = await _fields(core, instance, given, creating=False)
    if reset_link:
        fields["public_link"] = public_link()
    if not fields:
        return endpoint
    return await core.database.write(store.update_endpoint, endpoint.id, fields, utcnow())


async def delete(core: Core, key: ApiKey, instance_name: str, name: str) -> None:
    instance = await find_instance(core, instance_name)
    require(key, Role.write, instance)
    endpoint = await find(core, instance, name)
    await core.database.write(store.delete_endpoint, endpoint.id)


@dataclass(frozen=True)
class EndpointRun:
    endpoint: ScriptEndpoint
    queued: Run
    # None when the run had not ended within the wait (endpoint_wait_seconds).
    finished: Run | None


EndpointLookup = Callable[[Tx, int], ScriptEndpoint | None]


@dataclass(frozen=True)
class _Found:
    key: ApiKey | None
    instance: Instance | None
    endpoint: ScriptEndpoint | None
    script: Script | None


def _find_all(conn: Tx, secret: str, credential: str | None, public: bool,
              instance_name: str, find: EndpointLookup) -> _Found:
    """The caller's key (unless public), the instance, its endpoint and the endpoint's
    script, in one read."""
    key = None if public else key_of(conn, secret, credential)
    instance = instance_store.get_instance(conn, lookup_name(instance_name))
    endpoint = find(conn, instance.id) if instance is not None else None
    script = None
    if instance is not None and endpoint is not None:
        script = store.get_script(conn, instance.id, endpoint.script_number)
    return _Found(key, instance, endpoint, script)


async def _look_up(core: Core, credential: str | None, public: bool, instance_name: str,
                   find: EndpointLookup) -> tuple[Instance, ScriptEndpoint, Script]:
    """What running an endpoint needs, with the errors of separate lookups in their order:
    key, instance, permission, endpoint, script."""
    if not public and not credential:
        raise Unauthenticated(NO_CREDENTIALS)
    found = await core.database.read_small(
        _find_all, core.key_secret, credential, public, instance_name, find
    )
    instance = found_instance(found.instance)
    if found.key is not None:
        require(found.key, Role.run, instance)
    if found.endpoint is None:
        raise NotFound("Script Endpoint", "Not found.")
    return instance, found.endpoint, found_script(found.script)


def _nothing(conn: Tx, instance_id: int) -> None:
    """The lookup of a name no endpoint can have."""
    return None


async def _run(
    core: Core,
    instance: Instance,
    endpoint: ScriptEndpoint,
    script: Script,
    args: Any,
    request_meta: dict[str, Any],
) -> EndpointRun:
    """Queue the endpoint's script and wait for it to end, at most endpoint_wait_seconds."""
    queued = await queue_script_run(
        core, instance, script, args, trigger="endpoint", executor=endpoint.name,
        meta={"request": request_meta, "metadata": instance.metadata},
    )
    finished = await wait_for_run(core, queued.id, core.settings.endpoint_wait_seconds,
                                  fresh=True)
    return EndpointRun(endpoint=endpoint, queued=queued, finished=finished)


async def run(
    core: Core, credential: str | None, instance_name: str, name: str, args: Any,
    request_meta: dict[str, Any],
) -> EndpointRun:
    """Run the endpoint for the holder of the API key `credential` (checked here, in the
    same read as the lookups: one round trip)."""
    lowered = name.lower()
    find: EndpointLookup = _nothing
    if NAME_PATTERN.match(lowered):
        def find(conn: Tx, instance_id: int) -> ScriptEndpoint | None:
            return store.get_endpoint(conn, instance_id, lowered)
    instance, endpoint, script = await _look_up(core, credential, False, instance_name, find)
    return await _run(core, instance, endpoint, script, args, request_meta)


async def run_public(
    core: Core, instance_name: str, link: str, name: str, args: Any,
    request_meta: dict[str, Any],
) -> EndpointRun:
    lowered = name.lower()
    find: EndpointLookup = _nothing
    if link.isascii() and link.isalnum() and NAME_PATTERN.match(lowered):
        def find(conn: Tx, instance_id: int) -> ScriptEndpoint | None:
            return store.get_public_endpoint(conn, instance_id, link, lowered)
    instance, endpoint, script = await _look_up(core, None, True, instance_name, find)
    return await _run(core, instance, endpoint, script, args, request_meta)
