"""Device property filters as SQL: what a pool or a search asks of each device.

A filter compares the *string form* of one device property (a column or a custom property)
with a value. The string form is the same in SQL and in Python (core/pool_filters.py):
a string column as it is; `port` as its digits ("" when unset); a custom property as its
JSON text, except strings, which are themselves, and a missing or null property, which is "".
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import String, and_, case, cast, func, literal, not_, true
from sqlalchemy.sql.elements import ColumnElement

from runplane.store.tables import devices

INCLUSION = "inclusion"
EQUALITY = "equality"
REGEX = "regex"
EMPTY = "empty"
MATCH_KINDS = (INCLUSION, EQUALITY, REGEX, EMPTY)

# Device columns holding text; `port` is the one integer column a filter may name.
TEXT_COLUMNS = (
    "name", "ip_address", "vendor", "model", "operating_system", "os_version", "location",
    "description",
)
PORT = "port"


@dataclass(frozen=True)
class PropertyFilter:
    """One ANDed condition on a device property; `invert` negates it."""

    property: str
    value: str
    match: str = INCLUSION
    invert: bool = False
    # An inclusion ignoring ASCII letters' case (eNMS's search: LIKE on its SQLite); pools
    # never set it, so their membership stays exact.
    ignore_case: bool = False


# ASCII only, the same in SQLite (whose lower() knows no other letters) and PostgreSQL.
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ASCII_LOWER = str.maketrans(UPPER, UPPER.lower())


def ascii_lower(text: str) -> str:
    return text.translate(ASCII_LOWER)


def property_text(dialect: str, name: str) -> ColumnElement[str]:
    """The string form of device property `name`, never NULL (see the module docstring)."""
    if name in TEXT_COLUMNS:
        return devices.c[name]
    if name == PORT:
        return func.coalesce(cast(devices.c.port, String), "", type_=String)
    if dialect == "postgresql":
        # ->> answers strings unquoted and other JSON values as their text; NULL if absent.
        extracted = devices.c.properties.op("->>", return_type=String)(literal(name, String))
        return func.coalesce(extracted, "", type_=String)
    # SQLite's json_extract answers SQL values (true is 1): name booleans as JSON does.
    path = '$."' + name + '"'
    kind = func.json_type(devices.c.properties, path)
    value = case(
        (kind == "true", literal("true")),
        (kind == "false", literal("false")),
        else_=cast(func.json_extract(devices.c.properties, path), String),
    )
    return func.coalesce(value, "", type_=String)


def _contains(dialect: str, text: ColumnElement[str], value: str, ignore_case: bool
              ) -> ColumnElement[bool]:
    # Not LIKE: SQLite's LIKE ignores ASCII case and needs escaping; substring search is exact.
    finder = func.strpos if dialect == "postgresql" else func.instr
    if ignore_case:
        folded = (func.translate(text, UPPER, UPPER.lower(), type_=String)
                  if dialect == "postgresql" else func.lower(text, type_=String))
        return finder(folded, ascii_lower(value)) > 0
    return finder(text, value) > 0


def condition(dialect: str, item: PropertyFilter) -> ColumnElement[bool]:
    text = property_text(dialect, item.property)
    if item.match == EQUALITY:
        clause = text == item.value
    elif item.match == REGEX:
        # SQLite: the regexp() function SQLAlchemy registers on every connection (re.search);
        # PostgreSQL: its own ~ operator (as eNMS used), checked at save time.
        clause = text.regexp_match(item.value)
    elif item.match == EMPTY:
        clause = text == ""
    else:
        clause = _contains(dialect, text, item.value, item.ignore_case)
    return not_(clause) if item.invert else clause


def all_of(dialect: str, items: list[PropertyFilter]) -> ColumnElement[bool]:
    """Every filter holds; no filter at all holds for every device."""
    if not items:
        return true()
    return and_(*(condition(dialect, item) for item in items))
