"""The script door's request bodies, described for /openapi.json only (see api/openapi_docs.py).

Syncano clients send JSON or form fields, and the core checks every field, so these schemas
change nothing that a route accepts or answers.
"""

from __future__ import annotations

from runplane.api.openapi_docs import Schema
from runplane.core.runtimes import RUNTIMES

CONFIG: Schema = {"type": "object", "maxProperties": 1024,
                  "description": "a JSON object (keys at most 64 characters, 256 KB)"}
TIMEOUT: Schema = {"type": "number", "exclusiveMinimum": 0, "maximum": 300,
                   "description": "config.timeout: seconds a run may take"}
INSTANCE: Schema = {
    "title": "Instance", "type": "object",
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9_-]{1,64}$"},
        "description": {"type": "string", "maxLength": 4096},
        "metadata": {"type": "object"},
        "config": {**CONFIG, "properties": {"timeout": TIMEOUT}},
    },
}
SCRIPT: Schema = {
    "title": "Script", "type": "object",
    "properties": {
        "label": {"type": "string", "minLength": 1, "maxLength": 256},
        "runtime_name": {"type": "string", "enum": sorted(RUNTIMES)},
        "source": {"type": "string"},
        "description": {"type": "string", "maxLength": 4096},
        "config": {**CONFIG, "properties": {"timeout": TIMEOUT}},
    },
}
NEW_SCRIPT: Schema = {**SCRIPT, "required": ["label", "runtime_name"]}
ENDPOINT: Schema = {
    "title": "ScriptEndpoint", "type": "object",
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z]([a-z0-9_-]{0,62}[a-z0-9])?$"},
        "script": {"type": "integer", "minimum": 1},
        "description": {"type": "string", "maxLength": 4096},
        "public": {"type": "boolean"},
    },
}
NEW_ENDPOINT: Schema = {**ENDPOINT, "required": ["name", "script"]}
INSTANCE_CONFIG: Schema = {"title": "InstanceConfig", "type": "object",
                           "properties": {"config": CONFIG}}
ENDPOINT_ARGS: Schema = {"title": "EndpointArgs", "type": "object",
                         "description": "ARGS for the script (the query string is merged in)"}
