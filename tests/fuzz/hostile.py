"""Hostile values and shapes, as raw JSON bytes, and requests built from them.

Raw bytes because the hostile part is often what a JSON library will not write or will not
read back: a lone surrogate escape (`"\\ud800"`), NaN and Infinity, 10**400, 10^5-deep
nesting. A request is a template of a normal request (a JSON value whose leaves are
normal values) in which a strategy replaces some leaves, keys, query values or path
segments with hostile ones.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

DEPTH = 100_000
SURROGATES = [b'"a\\ud800"', b'"\\udfff"', b'"\\ud800\\udc00\\udc00"', b'"x\\udbff"']
NUL = [b'"a\\u0000b"', b'"\\u0000"']
NUMBERS = [
    b"1" + b"0" * 400, str(2**80).encode(), b"-" + str(2**80).encode(), b"1e308", b"-1e308",
    b"1e309", b"1e-400", b"NaN", b"Infinity", b"-Infinity", b"-0", b"0.5", b"-1",
    b"123456789012345678901234567890.5",
]
WRONG_TYPES = [b"true", b"false", b"null", b"[]", b"{}", b"[1,2]", b'{"a":1}', b"0", b'""',
               b'"  "', b'[{"b": [null]}]']
REGEXES = [b'"(a+)+$"', b'"a{99999999999}"', b'"(a|aa)*b"', b'"(?<=a)b"', b'"(a)\\\\1"',
           b'"["', b'"a{1000}{1000}"', b'"(x+x+)+y"', b'"\\\\"', b'"*"', b'"(?P<n>a)"']
LONG = [b'"' + b"a" * 100_000 + b'"', json.dumps("\u00e9\U0001f600" * 20_000).encode()]
DEEP = [b"[" * DEPTH + b"]" * DEPTH, b'{"a":' * DEPTH + b"1" + b"}" * DEPTH,
        b"[" * 1000 + b"]" * 1000, b"[" * DEPTH]
FIXED = SURROGATES + NUL + NUMBERS + WRONG_TYPES + REGEXES + LONG + DEEP
# Keys are JSON strings too: a key can be the surrogate.
KEYS = [*SURROGATES, *NUL, b'"__proto__"', b'"device_vendor_match"', b'"a" ', b'"' + b"k" * 5000
        + b'"', b'"search_criteria"', b'"vendor_filter"']
# Query values and path segments, percent-encoded as sent: an encoded surrogate (not UTF-8),
# NUL, invalid UTF-8, a slash, dots, very long, a catastrophic regex.
URL_PARTS = ["%ED%A0%80", "a%00b", "%00", "%FF%FE", "a%2Fb", "..", "%2E%2E", "a" * 5000,
             quote("(a+)+$", safe=""), quote("a{99999999999}", safe=""), "-1", str(2**80),
             "1e308", "NaN", quote("\u00e9\U0001f600", safe=""), "%", "%zz", "0"]

json_text = st.text(max_size=40).map(lambda text: json.dumps(text).encode())
hostile_values = st.one_of(st.sampled_from(FIXED), json_text,
                           st.integers(-(2**70), 2**70).map(lambda n: str(n).encode()))
hostile_keys = st.one_of(st.sampled_from(KEYS), json_text)
url_parts = st.one_of(st.sampled_from(URL_PARTS),
                      st.text(min_size=1, max_size=40).map(lambda text: quote(text, safe="")))


@dataclass(frozen=True)
class Template:
    """A normal request: `{name}` segments of `path` and `query` values may be replaced."""

    method: str
    path: str
    body: Any = None  # a JSON value, or None for no body
    query: Mapping[str, str] = field(default_factory=dict)
    segments: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    body: bytes | None


def leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place a value sits in `value` (the root included)."""
    paths = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            paths += leaf_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths += leaf_paths(item, (*prefix, index))
    return paths


def encode(value: Any, swaps: Mapping[tuple[Any, ...], bytes],
           extra_keys: Mapping[tuple[Any, ...], tuple[bytes, bytes]],
           at: tuple[Any, ...] = ()) -> bytes:
    """`value` as JSON bytes, with the raw hostile bytes of `swaps` at their places, and an
    extra (raw key, raw value) member in the objects of `extra_keys`."""
    if at in swaps:
        return swaps[at]
    if isinstance(value, dict):
        members = [json.dumps(key).encode() + b":" + encode(item, swaps, extra_keys, (*at, key))
                   for key, item in value.items()]
        if at in extra_keys:
            members.append(extra_keys[at][0] + b":" + extra_keys[at][1])
        return b"{" + b",".join(members) + b"}"
    if isinstance(value, list):
        return b"[" + b",".join(encode(item, swaps, extra_keys, (*at, index))
                                for index, item in enumerate(value)) + b"]"
    return json.dumps(value).encode()


def _object_paths(value: Any) -> list[tuple[Any, ...]]:
    found = []
    for path in leaf_paths(value):
        item = value
        for step in path:
            item = item[step]
        if isinstance(item, dict):
            found.append(path)
    return found


@st.composite
def hostile_requests(draw: st.DrawFn, template: Template) -> Request:
    """The template with hostile bytes in some of its body's places, keys, query values and
    path segments (each place is drawn: some requests are hostile in one place, some in many)."""
    body: bytes | None = None
    if template.body is not None:
        places = draw(st.lists(st.sampled_from(leaf_paths(template.body)), max_size=3,
                               unique=True))
        swaps = {place: draw(hostile_values) for place in places}
        objects = _object_paths(template.body)
        extra = {}
        if objects and draw(st.booleans()):
            extra[draw(st.sampled_from(objects))] = (draw(hostile_keys), draw(hostile_values))
        body = encode(template.body, swaps, extra)
    segments = {name: draw(url_parts) if draw(st.booleans()) else value
                for name, value in template.segments.items()}
    query = {name: draw(url_parts) if draw(st.booleans()) else quote(value, safe="")
             for name, value in template.query.items()}
    path = template.path.format(**segments)
    url = path + ("?" + "&".join(f"{name}={value}" for name, value in query.items())
                  if query else "")
    return Request(template.method, url, body)
