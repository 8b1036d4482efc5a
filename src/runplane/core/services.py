"""Services: a named thing to run over targets, with eNMS's field names.

Like the inventory, these operations take the instance already authorised: the service door
and the batch actions check the caller's role before calling them.

Types: `python_snippet_service` (a Python snippet run per device, code in `source_code`),
`shell_command_service` (a shell command, `command`) and `script_service` (a script of the
script door, `script` = its id). Fields eNMS has that runplane does not use are kept as given
in `properties`, so an eNMS export round-trips.
"""

from __future__ import annotations

from typing import Any

from runplane.clock import utcnow
from runplane.core import validation
from runplane.core.context import Core
from runplane.errors import Invalid, NotFound
from runplane.model import Instance, Page, Service
from runplane.store import scripts as script_store
from runplane.store import services as store

PYTHON_SNIPPET = "python_snippet_service"
SHELL_COMMAND = "shell_command_service"
SCRIPT_SERVICE = "script_service"
TYPES = (PYTHON_SNIPPET, SHELL_COMMAND, SCRIPT_SERVICE)
RUN_METHODS = ("per_device", "once")
NAME_MAX_CHARS = 256
MAX_PROCESSES_LIMIT = 1000
MAX_RETRIES = 100
DEFAULTS: dict[str, Any] = {
    "type": PYTHON_SNIPPET,
    "description": "",
    "source_code": "",
    "command": "",
    "script_id": None,
    "devices": [],
    "pools": [],
    "run_method": "per_device",
    "max_processes": 50,
    "number_of_retries": 0,
    "time_between_retries": 10.0,
    "timeout": None,
    "initial_payload": {},
    "properties": {},
}
# Fields eNMS sends that are not settings of a service (they are the client's bookkeeping).
IGNORED = ("id", "scoped_name", "creation_time", "last_modified", "last_modified_by")


def _names(field: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Invalid.field(field, "Must be a list of names.")
    return list(dict.fromkeys(value))  # without duplicates, in the given order


def _integer(field: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Invalid.field(field, "A valid integer is required.")
    try:
        number = int(value)
    except ValueError:
        raise Invalid.field(field, "A valid integer is required.") from None
    if not low <= number <= high:
        raise Invalid.field(field, f"Must be between {low} and {high}.")
    return number


def _seconds(field: str, value: Any, maximum: float, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Invalid.field(field, "A valid number of seconds is required.")
    try:
        number = float(value)
    except ValueError:
        raise Invalid.field(field, "A valid number of seconds is required.") from None
    if not 0 <= number <= maximum:
        raise Invalid.field(field, f"Must be between 0 and {maximum:g} seconds.")
    return number


async def _script_id(core: Core, instance: Instance, value: Any) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Invalid.field("script", "A valid script id is required.") from None
    script = await core.database.read(script_store.get_script, instance.id, number)
    if script is None:
        raise Invalid.field("script", f"Script {number} was not found.")
    return script.id


class TooManyProperties(Invalid):
    def __init__(self, limit: int) -> None:
        super().__init__({"properties": [f"Extra fields exceed {limit} bytes."]})


async def checked_fields(
    core: Core, instance: Instance, given: dict[str, Any], *, current: Service | None
) -> dict[str, Any]:
    """Validated columns for a create (current None) or an update of `current`."""
    settings = core.settings
    fields: dict[str, Any] = {}
    properties = dict(current.properties) if current else {}
    for key, value in given.items():
        if key == "name" or key in IGNORED:
            continue
        match key:
            case "type":
                if value not in TYPES:
                    raise Invalid.field("type", f"Must be one of {', '.join(TYPES)}.")
                fields["type"] = value
            case "description":
                fields["description"] = validation.text(key, value, max_chars=4096)
            case "source_code" | "command":
                fields[key] = validation.text(key, value, max_chars=settings.source_max_bytes)
            case "script":
                fields["script_id"] = await _script_id(core, instance, value)
            case "devices" | "pools":
                fields[key] = _names(key, value)
            case "run_method":
                if value not in RUN_METHODS:
                    raise Invalid.field(key, f"Must be one of {', '.join(RUN_METHODS)}.")
                fields[key] = value
            case "max_processes":
                fields[key] = _integer(key, value, 1, MAX_PROCESSES_LIMIT)
            case "number_of_retries":
                fields[key] = _integer(key, value, 0, MAX_RETRIES)
            case "time_between_retries":
                fields[key] = _seconds(key, value, 3600)
            case "timeout":
                fields[key] = _seconds(key, value, settings.script_timeout_max, allow_none=True)
            case "initial_payload":
                payload = validation.decode_json_field(key, value if value is not None else {})
                if not isinstance(payload, dict):
                    raise Invalid.field(key, "Must be a JSON object.")
                fields[key] = payload
            case _:
                properties[key] = value
    if validation.encoded_size(properties) > settings.config_max_bytes:
        raise TooManyProperties(settings.config_max_bytes)
    fields["properties"] = properties
    merged = {**DEFAULTS, **(as_fields(current) if current else {}), **fields}
    _check_code(merged)
    return fields if current else merged


def as_fields(service: Service) -> dict[str, Any]:
    """The service's own fields (those a create or update sets)."""
    return {name: getattr(service, name) for name in DEFAULTS}


def _check_code(fields: dict[str, Any]) -> None:
    """Each type needs its code: a snippet, a command, or a script."""
    if fields["type"] == PYTHON_SNIPPET:
        try:
            compile(fields["source_code"], "<source_code>", "exec")
        except SyntaxError as error:
            raise Invalid.field(
                "source_code", f"Syntax error line {error.lineno}: {error.msg}."
            ) from None
    elif fields["type"] == SHELL_COMMAND and not fields["command"].strip():
        raise Invalid.field("command", "A shell command service needs a command.")
    elif fields["type"] == SCRIPT_SERVICE and fields["script_id"] is None:
        raise Invalid.field("script", "A script service needs a script id.")


def _name(value: Any) -> str:
    return validation.text("name", value, max_chars=NAME_MAX_CHARS, required=True).strip()


def checked_name(name: Any) -> str:
    """A service name as a run or lookup gives it; Invalid if there is none, NotFound if
    no service can have it."""
    if not isinstance(name, str) or not name.strip():
        raise Invalid.field("name", "This field is required.")
    if "\x00" in name:  # no service has one (save refuses it); PostgreSQL cannot look it up
        raise NotFound("Service", f"Service '{name.strip()}' not found.")
    return name.strip()


def found(service: Service | None, name: str) -> Service:
    if service is None:
        raise NotFound("Service", f"Service '{name}' not found.")
    return service


async def find(core: Core, instance: Instance, name: Any) -> Service:
    checked = checked_name(name)
    return found(await core.database.read(store.get_service, instance.id, checked), checked)


async def save(core: Core, instance: Instance, given: Any) -> Service:
    """Create the named service, or update it if it exists (eNMS's create-or-update)."""
    if not isinstance(given, dict):
        raise Invalid.field("non_field_errors", "A service is a JSON object.")
    name = _name(given.get("name"))
    current = await core.database.read(store.get_service, instance.id, name)
    fields = await checked_fields(core, instance, given, current=current)
    if current is None:
        return await core.database.write(
            store.insert_service, instance_id=instance.id, fields={**fields, "name": name},
            now=utcnow(),
        )
    return await core.database.write(store.update_service, current.id, fields, utcnow())


async def get(core: Core, instance: Instance, name: str) -> Service:
    return await find(core, instance, name)


async def list_services(
    core: Core, instance: Instance, *, after: int | None = None, limit: int = 1000,
    filters: dict[str, Any] | None = None,
) -> Page[Service]:
    known = {name: value for name, value in (filters or {}).items()
             if name in ("name", "type", "run_method", "description")}
    return await core.database.read(
        store.list_services, instance.id, after=after, limit=limit, filters=known,
    )


async def delete(core: Core, instance: Instance, name: str) -> Service:
    """Delete a service and answer it as it was; its past runs stay readable by runtime."""
    service = await find(core, instance, name)
    await core.database.write(store.delete_service, service.id)
    return service
