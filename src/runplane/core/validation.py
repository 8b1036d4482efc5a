"""Field validators shared by the core: JSON fields that clients send as objects or strings.

Syncano's clients send some JSON fields (`payload`, `config`, `metadata`) as JSON-encoded
strings inside the JSON body; the server accepted both forms, and so do we.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from runplane.errors import NUL_MESSAGE, Invalid
from runplane.settings import Settings

# Numbers (script, trace, endpoint ids) are 32-bit in the store: a larger one names nothing,
# and must not reach a query, which would fail on it.
ID_MAX = 2**31 - 1
# Where a lone UTF-16 surrogate may hide: an escape (\ud800) or raw surrogate bytes, which
# json.loads lets through. Only then is the (costlier) full check made.
_SURROGATE_HINT_TEXT = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")
_SURROGATE_HINT_BYTES = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number {text} is out of range")
    return number


def loads(document: str | bytes) -> Any:
    """json.loads, keeping only what both databases can store; ValueError otherwise.

    Python's parser accepts NaN, Infinity, 1e999 and lone surrogates (PostgreSQL refuses
    them, SQLite keeps them), and overflows the stack on deep nesting.
    """
    try:
        value = json.loads(document, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError("nesting too deep") from None
    if isinstance(document, bytes):
        suspicious = _SURROGATE_HINT_BYTES.search(document) is not None
    else:
        suspicious = _SURROGATE_HINT_TEXT.search(document) is not None
    if suspicious:
        json.dumps(value, ensure_ascii=False).encode()  # UnicodeEncodeError is a ValueError
    return value


def decode_json_field(name: str, value: Any) -> Any:
    """A field given as a JSON object/array, or as a string holding one."""
    if isinstance(value, str):
        try:
            return loads(value)
        except ValueError as error:
            raise Invalid.field(name, "Not a valid JSON string.") from error
    return value


def encoded_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def payload(value: Any, field: str = "payload") -> Any:
    """A run's payload: a JSON object or array (or a string holding one), within the limit."""
    value = decode_json_field(field, value)
    if not isinstance(value, dict | list):
        raise Invalid.field(field, "Payload passed in invalid format.")
    return value


def config(value: Any, settings: Settings, field: str = "config") -> dict[str, Any]:
    """A script or instance config: an object with bounded keys and size."""
    value = decode_json_field(field, {} if value is None else value)
    if not isinstance(value, dict):
        raise Invalid.field(field, "Config passed in invalid format.")
    if len(value) > settings.config_max_keys:
        raise Invalid.field(field, f"Too many keys defined (exceeds {settings.config_max_keys}).")
    if any(len(key) > settings.config_key_max_chars for key in value):
        raise Invalid.field(
            field, f"Too long key defined (exceeds {settings.config_key_max_chars})."
        )
    if encoded_size(value) > settings.config_max_bytes:
        raise Invalid.field(field, f"Too big object defined (exceeds {settings.config_max_bytes}).")
    if "timeout" in value:
        _timeout(field, value["timeout"], settings.script_timeout_max)
    return value


def _timeout(field: str, given: Any, maximum: float) -> None:
    """A config's `timeout`: seconds, above 0 and at most the server's largest timeout."""
    if isinstance(given, bool) or not isinstance(given, int | float) or not 0 < given <= maximum:
        raise Invalid.field(field, f"timeout: Ensure this value is a number of seconds greater "
                                   f"than 0 and at most {maximum:g}.")


METADATA_MAX_KEYS = 8
METADATA_KEY_MAX_CHARS = 16
METADATA_VALUE_MAX_CHARS = 4 * 1024


def metadata(value: Any) -> dict[str, Any]:
    """An instance's metadata, with Syncano's limits (8 keys, 16-char keys, 4 KB values)."""
    value = decode_json_field("metadata", {} if value is None else value)
    if not isinstance(value, dict):
        raise Invalid.field("metadata", "Metadata passed in invalid format.")
    if len(value) > METADATA_MAX_KEYS:
        raise Invalid.field("metadata", f"Too many keys defined (exceeds {METADATA_MAX_KEYS}).")
    for key, item in value.items():
        if len(key) > METADATA_KEY_MAX_CHARS:
            raise Invalid.field(
                "metadata", f"Too long key defined (exceeds {METADATA_KEY_MAX_CHARS})."
            )
        if encoded_size(item) > METADATA_VALUE_MAX_CHARS:
            raise Invalid.field(
                "metadata",
                f"Too long value defined for key {key} (exceeds {METADATA_VALUE_MAX_CHARS}).",
            )
    return value


def text(name: str, value: Any, *, max_chars: int, required: bool = False) -> str:
    if value is None:
        if required:
            raise Invalid.field(name, "This field is required.")
        return ""
    if not isinstance(value, str):
        raise Invalid.field(name, "Not a valid string.")
    if "\x00" in value:  # PostgreSQL text cannot hold NUL (DRF refused it too)
        raise Invalid.field(name, NUL_MESSAGE)
    if required and not value.strip():
        raise Invalid.field(name, "This field may not be blank.")
    if len(value) > max_chars:
        raise Invalid.field(name, f"Ensure this field has no more than {max_chars} characters.")
    return value
