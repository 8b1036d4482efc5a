"""Property filters of pools and searches: parsing what eNMS clients send, and the semantics.

A filter names a device property (a column or a custom property), a value, a match kind and
an invert flag. Against the property's string form (see store/filters.py):
  inclusion: the value is a substring; equality: equal strings; regex: `re.search` finds the
  value; empty: the string form is "" (a missing property included); invert negates.
A filter whose value is "" is ignored, unless its match is `empty`. Filters are ANDed.

eNMS clients send filters flat: `device_<property>` (value), `device_<property>_match`,
`device_<property>_invert`. runplane also accepts `filters: {property: {value, match, invert}}`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from runplane import linear_regex
from runplane.errors import Invalid
from runplane.model import Device
from runplane.store.filters import (
    EMPTY,
    EQUALITY,
    INCLUSION,
    MATCH_KINDS,
    PORT,
    REGEX,
    TEXT_COLUMNS,
    PropertyFilter,
    ascii_lower,
)

PREFIX = "device_"
MATCH_SUFFIX = "_match"
INVERT_SUFFIX = "_invert"
VALUE_MAX_CHARS = 1024
# Custom property names: identifiers, as eNMS's (they were SQL columns there).
PROPERTY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
BAD_PROPERTY = "Not a valid property name (letters, digits and _, at most 64 characters)."
TRUE_WORDS = frozenset({"true", "1", "yes", "on", "y"})
FALSE_WORDS = frozenset({"false", "0", "no", "off", "n", ""})


def is_property_name(name: str) -> bool:
    return name in TEXT_COLUMNS or name == PORT or bool(PROPERTY_NAME.match(name))


# Semantics ---------------------------------------------------------------------------------


def string_form(value: Any) -> str:
    """A property value as filters see it: strings as they are, None as "", others as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def device_text(device: Device, name: str) -> str:
    if name in TEXT_COLUMNS or name == PORT:
        return string_form(getattr(device, name))
    return string_form(device.properties.get(name))


def matches(item: PropertyFilter, text: str) -> bool:
    """Does `text` (a property's string form) satisfy the filter?"""
    if item.match == EQUALITY:
        found = text == item.value
    elif item.match == REGEX:
        found = bool(linear_regex.search(item.value, text))
    elif item.match == EMPTY:
        found = text == ""
    elif item.ignore_case:
        found = ascii_lower(item.value) in ascii_lower(text)
    else:
        found = item.value in text
    return found != item.invert


def device_matches(device: Device, filters: Iterable[PropertyFilter]) -> bool:
    return all(matches(item, device_text(device, item.property)) for item in filters)


# Parsing ----------------------------------------------------------------------------------


def boolean(field: str, value: Any) -> bool:
    """A flag as JSON, CSV or a form sends it: true/false, 1/0, "true"/"false", "yes"/"no"."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise Invalid.field(field, "Must be a boolean (true or false).")


def _value(field: str, value: Any) -> str:
    if isinstance(value, dict | list):
        raise Invalid.field(field, "Must be a text value, not a list or an object.")
    text = string_form(value)
    if len(text) > VALUE_MAX_CHARS:
        raise Invalid.field(field, f"Ensure this value has at most {VALUE_MAX_CHARS} characters.")
    return text


def _match(field: str, value: Any) -> str:
    if value is None or value == "":
        return INCLUSION
    if value not in MATCH_KINDS:
        raise Invalid.field(field, f"{value!r} is not a valid match; choose one of "
                                   f"{', '.join(MATCH_KINDS)}.")
    return str(value)


def make_filter(
    name: str, value: Any, match: Any = None, invert: Any = False, *, field: str | None = None,
    match_field: str | None = None, invert_field: str | None = None,
) -> PropertyFilter | None:
    """A validated filter, or None when it is empty (and so ignored)."""
    field = field or PREFIX + name
    if not is_property_name(name):
        raise Invalid.field(field, BAD_PROPERTY)
    kind = _match(match_field or field + MATCH_SUFFIX, match)
    negate = boolean(invert_field or field + INVERT_SUFFIX, invert)
    text = "" if kind == EMPTY else _value(field, value)
    if text == "" and kind != EMPTY:
        return None
    if kind == REGEX:
        try:
            re.compile(text)
        except (re.error, OverflowError) as error:  # a{99999999999} overflows, not re.error
            raise Invalid.field(field, f"Invalid regular expression {text!r}: {error}.") from None
        reason = linear_regex.unsupported(text)
        if reason is not None:
            raise Invalid.field(field, f"Invalid regular expression {text!r}: {reason} "
                                       f"(runplane matches in linear time, with RE2's syntax: "
                                       f"no backreferences or lookarounds).")
    return PropertyFilter(property=name, value=text, match=kind, invert=negate)


def group_options(
    given: Mapping[str, Any], *, prefix: str, suffixes: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """{property: {"": value, suffix: option...}} from flat keys `<prefix><property><suffix>`.

    A key ending in one of `suffixes` is always that option of its property: a custom
    property whose own name ends so is reached through the structured form only.
    """
    grouped: dict[str, dict[str, Any]] = {}
    for key, value in given.items():
        if not key.startswith(prefix) or key == prefix:
            continue
        rest = key[len(prefix):]
        suffix = next((s for s in suffixes if rest.endswith(s) and rest != s), "")
        grouped.setdefault(rest[: len(rest) - len(suffix)], {})[suffix] = value
    return grouped


def flat_filters(given: Mapping[str, Any]) -> dict[str, PropertyFilter | None]:
    """Filters from eNMS's flat pool keys; None marks a property given with an empty filter."""
    found: dict[str, PropertyFilter | None] = {}
    errors: dict[str, list[str]] = {}
    grouped = group_options(given, prefix=PREFIX, suffixes=(MATCH_SUFFIX, INVERT_SUFFIX))
    for name, options in grouped.items():
        try:
            found[name] = make_filter(
                name, options.get(""), options.get(MATCH_SUFFIX),
                options.get(INVERT_SUFFIX, False),
            )
        except Invalid as error:
            errors.update(error.fields)
    if errors:
        raise Invalid(errors)
    return found


def structured_filters(value: Any) -> dict[str, PropertyFilter | None]:
    """Filters from `filters: {property: {"value", "match", "invert"}}`."""
    if not isinstance(value, dict):
        raise Invalid.field("filters", "Must be an object: {property: {value, match, invert}}.")
    found: dict[str, PropertyFilter | None] = {}
    errors: dict[str, list[str]] = {}
    for name, spec in value.items():
        field = f"filters.{name}"
        try:
            if not isinstance(spec, dict):
                raise Invalid.field(field, "Must be an object: {value, match, invert}.")
            found[name] = make_filter(
                name, spec.get("value"), spec.get("match"), spec.get("invert", False),
                field=f"{field}.value", match_field=f"{field}.match",
                invert_field=f"{field}.invert",
            )
        except Invalid as error:
            errors.update(error.fields)
    if errors:
        raise Invalid(errors)
    return found


# Storage and rendering ---------------------------------------------------------------------


def to_stored(filters: Mapping[str, PropertyFilter]) -> dict[str, dict[str, Any]]:
    """The JSON kept in pools.filters."""
    return {
        name: {"value": item.value, "match": item.match, "invert": item.invert}
        for name, item in sorted(filters.items())
    }


def to_flat(filters: Iterable[PropertyFilter]) -> dict[str, Any]:
    """eNMS's flat form of a pool's filters."""
    flat: dict[str, Any] = {}
    for item in filters:
        key = PREFIX + item.property
        flat[key] = item.value
        flat[key + MATCH_SUFFIX] = item.match
        flat[key + INVERT_SUFFIX] = item.invert
    return flat
