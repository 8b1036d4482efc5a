"""The service door's request bodies, described for /openapi.json only (see openapi_docs.py).

eNMS clients send JSON under any Content-Type and the core checks every field, so these
schemas change nothing that a route accepts or answers: the core's checks stay the rules.
"""

from __future__ import annotations

from runplane.api.openapi_docs import Schema

# The types of /rest/instance/{type} (inventory.INSTANCE_TYPES; a unit test keeps them equal).
TYPE_NAMES = [
    "device", "pool", "credential", "service", "python_snippet_service", "shell_command_service",
    "script_service",
]
MATCH_KINDS = ["inclusion", "equality", "regex", "empty"]
# Names cannot hold a slash or a quote (they are path segments of /rest/instance/{type}/{name}).
NAME: Schema = {"type": "string", "minLength": 1, "maxLength": 256, "pattern": "^[^/\\\\'\"]+$"}
NAMES: Schema = {"type": "array", "items": {"type": "string"}}
TEXT: Schema = {"type": "string", "maxLength": 256}

DEVICE: Schema = {
    "title": "Device",
    "description": "A device by name; any other key is a custom property (an identifier).",
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": NAME,
        "ip_address": {"type": "string", "maxLength": 64},
        "vendor": TEXT, "model": TEXT, "operating_system": TEXT, "os_version": TEXT,
        "location": TEXT,
        "description": {"type": "string", "maxLength": 4096},
        "port": {"type": ["integer", "null"], "minimum": 1, "maximum": 65535},
        "properties": {"type": "object", "description": "custom properties"},
    },
    "additionalProperties": True,
}
FILTER: Schema = {
    "type": "object",
    "properties": {
        "value": {"type": "string", "maxLength": 1024},
        "match": {"type": "string", "enum": MATCH_KINDS},
        "invert": {"type": "boolean"},
    },
}
POOL: Schema = {
    "title": "Pool",
    "description": (
        "A manual pool (`manually_defined` with `devices`) or property filters, flat as eNMS "
        "sends them (`device_<property>`, `device_<property>_match`, `device_<property>_invert`)"
        " or structured in `filters`. A `regex` match is RE2 syntax."
    ),
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": NAME,
        "description": {"type": "string", "maxLength": 4096},
        "manually_defined": {"type": "boolean"},
        "devices": NAMES,
        "device_vendor": {"type": "string", "maxLength": 1024},
        "device_vendor_match": {"type": "string", "enum": MATCH_KINDS},
        "device_vendor_invert": {"type": "boolean"},
        "device_name": {"type": "string", "maxLength": 1024},
        "device_name_match": {"type": "string", "enum": MATCH_KINDS},
        "filters": {"type": "object", "additionalProperties": FILTER},
    },
    "additionalProperties": True,
}
SERVICE: Schema = {
    "title": "Service",
    "description": "A service by name; keys runplane does not use are kept as properties.",
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 256},
        "type": {"type": "string", "enum": [
            "python_snippet_service", "shell_command_service", "script_service"]},
        "description": {"type": "string", "maxLength": 4096},
        "source_code": {"type": "string"},
        "command": {"type": "string"},
        "script": {"type": "integer", "minimum": 1},
        "devices": NAMES,
        "pools": NAMES,
        "run_method": {"type": "string", "enum": ["per_device", "once"]},
        "max_processes": {"type": "integer", "minimum": 1, "maximum": 1000},
        "number_of_retries": {"type": "integer", "minimum": 0, "maximum": 100},
        "time_between_retries": {"type": "number", "minimum": 0, "maximum": 3600},
        "timeout": {"type": ["number", "null"], "minimum": 0, "maximum": 300},
        "initial_payload": {"type": "object"},
    },
    "additionalProperties": True,
}
CREDENTIAL: Schema = {
    "title": "Credential",
    "description": (
        "eNMS's credential. `password`, `private_key` and `enable_password` are encrypted at "
        "rest and never answered; an empty or missing one keeps the stored one."
    ),
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": NAME,
        "description": {"type": "string", "maxLength": 4096},
        "role": {"type": "string", "enum": ["read-write", "read-only"]},
        "subtype": {"type": "string", "enum": ["password", "key"]},
        "username": TEXT,
        "password": {"type": "string", "maxLength": 1024, "writeOnly": True},
        "private_key": {"type": "string", "maxLength": 16384, "writeOnly": True},
        "enable_password": {"type": "string", "maxLength": 1024, "writeOnly": True},
        "priority": {"type": "integer"},
        "device_pools": NAMES,
    },
    "additionalProperties": False,
}
ONE_OF_EACH = [DEVICE, POOL, CREDENTIAL, SERVICE]
SAVE_INSTANCES: Schema = {
    "description": "One object, or a list of them (each refused one is listed in `failure`).",
    "anyOf": [*ONE_OF_EACH, {"type": "array", "items": {"anyOf": ONE_OF_EACH}}],
}
SEARCH: Schema = {
    "title": "Search",
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"type": "string", "enum": TYPE_NAMES},
        "columns": NAMES,
        "search_criteria": {
            "type": "object",
            "description": "`<column>` (value), `<column>_filter` (match), `<column>_invert`",
            "properties": {
                "name": {"type": "string"},
                "name_filter": {"type": "string", "enum": MATCH_KINDS},
                "vendor": {"type": "string"},
                "vendor_filter": {"type": "string", "enum": MATCH_KINDS},
                "vendor_invert": {"type": "boolean"},
            },
            "additionalProperties": True,
        },
        "order": {"type": "array", "items": {
            "type": "object",
            "properties": {"column": {"type": ["integer", "string"]},
                           "dir": {"type": "string", "enum": ["asc", "desc"]}},
        }},
        "start": {"type": "integer", "minimum": 0, "maximum": 10**9},
        "maximum_return_records": {"type": "integer", "minimum": 0, "maximum": 10_000},
    },
}
RUN_SERVICE: Schema = {
    "title": "RunService",
    "description": "Every key is also the run's payload (user data such as `aid`).",
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 256},
        "devices": NAMES,
        "pools": NAMES,
        "ip_addresses": NAMES,
        "async": {"type": "boolean", "default": False},
        "ignore_invalid_targets": {"type": "boolean", "default": False},
        "callback_url": {"type": "string", "format": "uri",
                         "description": "runplane: POST the ended run here (signed, retried)"},
    },
    "additionalProperties": True,
}

