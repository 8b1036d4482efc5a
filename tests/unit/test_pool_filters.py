"""Pool filter semantics and parsing (pure functions, no database)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from runplane.core.pool_filters import (
    boolean,
    device_matches,
    device_text,
    flat_filters,
    make_filter,
    matches,
    string_form,
    structured_filters,
    to_flat,
    to_stored,
)
from runplane.core.search import parse_search
from runplane.errors import Invalid
from runplane.model import Device
from runplane.store.filters import PropertyFilter

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def device(**given: Any) -> Device:
    columns = {"ip_address": "", "vendor": "", "model": "", "operating_system": "",
               "os_version": "", "location": "", "description": "", "port": None}
    properties = {key: value for key, value in given.items() if key not in columns}
    columns |= {key: value for key, value in given.items() if key in columns}
    return Device(id=1, instance_id=1, name=str(given.get("name", "d")), **columns,
                  properties={k: v for k, v in properties.items() if k != "name"},
                  created_at=NOW, updated_at=NOW)


# Semantics ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("match", "value", "text", "expected"), [
    ("inclusion", "isc", "Cisco", True),
    ("inclusion", "ISC", "Cisco", False),  # case matters
    ("inclusion", "%", "100%", True),  # no LIKE wildcards
    ("inclusion", "_", "ab", False),
    ("equality", "Cisco", "Cisco", True),
    ("equality", "Cisco", "Cisco IOS", False),
    ("regex", "^Ci.*o$", "Cisco", True),
    ("regex", "IOS", "Cisco IOS XR", True),  # search, not a full match
    ("regex", "^IOS", "Cisco IOS", False),
    ("empty", "", "", True),
    ("empty", "ignored", "x", False),
])
def test_match_kinds(match: str, value: str, text: str, expected: bool) -> None:
    assert matches(PropertyFilter("vendor", value, match), text) is expected
    assert matches(PropertyFilter("vendor", value, match, invert=True), text) is not expected


def test_string_forms_of_property_values() -> None:
    assert [string_form(v) for v in (None, "x", True, False, 22, 1.5, [1, "a"], {"k": 1})] == [
        "", "x", "true", "false", "22", "1.5", '[1,"a"]', '{"k":1}']


def test_device_text_reads_columns_port_and_custom_properties() -> None:
    item = device(vendor="Cisco", port=22, rack="A1", up=True)
    assert [device_text(item, name) for name in ("vendor", "port", "rack", "up", "nope")] == [
        "Cisco", "22", "A1", "true", ""]
    assert device_text(device(), "port") == ""


def test_filters_are_anded_and_empty_means_missing_too() -> None:
    item = device(vendor="Cisco", rack="A1")
    both = [PropertyFilter("vendor", "Cisco", "equality"), PropertyFilter("rack", "A", "inclusion")]
    assert device_matches(item, both)
    assert not device_matches(item, [*both, PropertyFilter("rack", "B")])
    assert device_matches(item, [PropertyFilter("role", "", "empty")])
    assert not device_matches(item, [PropertyFilter("role", "", "empty", invert=True)])
    assert device_matches(item, [])


# Parsing -----------------------------------------------------------------------------------


def test_flat_form_of_enms() -> None:
    found = flat_filters({
        "name": "Pool2", "device_vendor": "Cisco", "device_vendor_match": "equality",
        "device_vendor_invert": False, "device_model": "ASR", "device_rack": "A",
        "device_rack_invert": "true", "device_os_version": "", "description": "x",
    })
    assert found == {
        "vendor": PropertyFilter("vendor", "Cisco", "equality", False),
        "model": PropertyFilter("model", "ASR", "inclusion", False),
        "rack": PropertyFilter("rack", "A", "inclusion", True),
        "os_version": None,  # given but empty: ignored (and, on update, removed)
    }


def test_empty_match_needs_no_value_and_numbers_become_text() -> None:
    found = flat_filters({"device_role_match": "empty", "device_port": 22,
                          "device_port_match": "equality"})
    assert found == {"role": PropertyFilter("role", "", "empty"),
                     "port": PropertyFilter("port", "22", "equality")}


def test_invalid_regex_names_the_field() -> None:
    with pytest.raises(Invalid) as caught:
        flat_filters({"device_vendor": "Cis[co", "device_vendor_match": "regex",
                      "device_model": "(", "device_model_match": "regex"})
    assert set(caught.value.fields) == {"device_vendor", "device_model"}
    assert caught.value.fields["device_vendor"][0].startswith(
        "Invalid regular expression 'Cis[co': unterminated character set")


def test_an_empty_regex_is_ignored_not_refused() -> None:
    assert make_filter("vendor", "", "regex") is None


@pytest.mark.parametrize(("given", "field"), [
    ({"device_vendor": "x", "device_vendor_match": "fuzzy"}, "device_vendor_match"),
    ({"device_vendor": "x", "device_vendor_invert": "maybe"}, "device_vendor_invert"),
    ({"device_vendor": ["x"]}, "device_vendor"),
    ({"device_vendor": "x" * 1025}, "device_vendor"),
    ({"device_bad-name": "x"}, "device_bad-name"),
])
def test_bad_flat_filters(given: dict[str, Any], field: str) -> None:
    with pytest.raises(Invalid) as caught:
        flat_filters(given)
    assert list(caught.value.fields) == [field]


def test_structured_form() -> None:
    found = structured_filters({"vendor": {"value": "Cisco", "match": "equality"},
                                "rack": {"value": "", "match": "empty", "invert": True},
                                "model": {"value": ""}})
    assert found == {"vendor": PropertyFilter("vendor", "Cisco", "equality"),
                     "rack": PropertyFilter("rack", "", "empty", True), "model": None}
    with pytest.raises(Invalid) as caught:
        structured_filters({"vendor": {"value": "(", "match": "regex"}, "rack": "A"})
    assert set(caught.value.fields) == {"filters.vendor.value", "filters.rack"}
    with pytest.raises(Invalid):
        structured_filters(["vendor"])


def test_stored_and_flat_renderings_round_trip() -> None:
    filters = {"vendor": PropertyFilter("vendor", "Cisco", "equality", True)}
    assert to_stored(filters) == {"vendor": {"value": "Cisco", "match": "equality",
                                             "invert": True}}
    flat = to_flat(filters.values())
    assert flat == {"device_vendor": "Cisco", "device_vendor_match": "equality",
                    "device_vendor_invert": True}
    assert flat_filters(flat) == filters


@pytest.mark.parametrize(("value", "expected"), [
    (True, True), (False, False), ("true", True), ("False", False), ("1", True), (0, False),
    ("yes", True), ("", False), (None, False),
])
def test_boolean_flags(value: Any, expected: bool) -> None:
    assert boolean("flag", value) is expected


def test_search_request_parsing() -> None:
    search = parse_search({
        "type": "device", "columns": ["name", "vendor"],
        "search_criteria": {"vendor": "Cis", "vendor_filter": "inclusion", "name": "^r",
                            "name_filter": "regex", "model": ""},
        "order": [{"column": 1, "dir": "desc"}], "start": 5, "maximum_return_records": 3,
    })
    # A search's inclusion ignores case, as eNMS's (LIKE on its SQLite).
    assert search.filters == [PropertyFilter("vendor", "Cis", "inclusion", ignore_case=True),
                              PropertyFilter("name", "^r", "regex")]
    assert (search.order, search.start, search.limit) == ([("vendor", True)], 5, 3)
    defaults = parse_search({"type": "pool"})
    assert (defaults.columns, defaults.filters, defaults.start, defaults.limit) == (
        None, [], 0, 10)


@pytest.mark.parametrize(("body", "field"), [
    ({}, "type"),
    ({"type": "device", "columns": "name"}, "columns"),
    ({"type": "device", "order": [{"column": 3}], "columns": ["name"]}, "order"),
    ({"type": "device", "order": [{"column": "name", "dir": "up"}]}, "order"),
    ({"type": "device", "maximum_return_records": 10_001}, "maximum_return_records"),
    ({"type": "device", "start": -1}, "start"),
    ({"type": "device", "search_criteria": {"name": "(", "name_filter": "regex"}}, "name"),
])
def test_bad_search_requests(body: dict[str, Any], field: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_search(body)
    assert list(caught.value.fields) == [field]
