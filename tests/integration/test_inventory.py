"""The inventory on a real database: devices in bulk, pools of every kind, target resolution.

Filter pools are resolved in SQL; each match kind is checked against the pure Python
semantics of core/pool_filters.py over a varied inventory, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runplane.core import inventory, pools
from runplane.core.context import Core
from runplane.core.instances import create as create_instance
from runplane.core.inventory_import import (
    ImportRow,
    UnreadableFile,
    import_inventory,
    read_inventory_file,
)
from runplane.core.pool_filters import device_matches, flat_filters
from runplane.core.search import parse_search
from runplane.core.targets import resolve_pool_names, resolve_targets
from runplane.errors import Invalid, NotFound
from runplane.model import Instance

pytestmark = pytest.mark.anyio

VARIED: list[dict[str, Any]] = [
    {"name": "core-1", "vendor": "Cisco", "model": "ASR", "ip_address": "10.0.0.1", "port": 22,
     "os_version": "15.2", "role": "core", "rack": "A1", "tier": 1, "managed": True},
    {"name": "core-2", "vendor": "cisco", "model": "ASR9k", "ip_address": "10.0.0.2",
     "role": "core", "rack": "A2", "tier": 2, "managed": False},
    {"name": "edge-1", "vendor": "Juniper", "model": "MX", "ip_address": "10.0.1.1", "port": 830,
     "role": "edge", "rack": "", "tier": 10},
    {"name": "edge-2", "vendor": "Juniper", "model": "", "ip_address": "10.0.1.2",
     "role": "edge", "note": "100% (50%) a.b"},
    {"name": "lab-1", "vendor": "", "model": "vMX", "ip_address": "10.0.0.1", "role": None},
    {"name": "lab_2", "vendor": "Arista", "model": "vEOS", "description": "Lab % device_x"},
]


@pytest.fixture
async def instance(core: Core) -> Instance:
    return await create_instance(core, None, {"name": "inv"})


@pytest.fixture
async def varied(core: Core, instance: Instance) -> Instance:
    report = await inventory.save_devices(core, instance, VARIED)
    assert report.failure == []
    return instance


async def members(core: Core, instance: Instance, pool: dict[str, Any]) -> list[str]:
    await pools.save_pool(core, instance, pool)
    resolved = await resolve_targets(
        core, instance, devices=[], pools=[pool["name"]], ip_addresses=[], ignore_invalid=False
    )
    assert resolved.errors == []
    return [device.name for device in resolved.devices]


# Devices -----------------------------------------------------------------------------------


async def test_a_device_is_created_then_updated_by_name(core: Core, instance: Instance) -> None:
    created = await inventory.save_device(
        core, instance, {"name": "r1", "vendor": "Cisco", "port": "22", "rack": "A", "x": [1]}
    )
    assert (created.vendor, created.port, created.properties) == ("Cisco", 22, {"rack": "A",
                                                                                "x": [1]})
    updated = await inventory.save_device(core, instance, {"name": "r1", "model": "ASR",
                                                           "rack": "B"})
    # Only what was given changes; custom properties are merged.
    assert (updated.id, updated.vendor, updated.model, updated.port) == (created.id, "Cisco",
                                                                         "ASR", 22)
    assert updated.properties == {"rack": "B", "x": [1]}
    assert updated.created_at == created.created_at
    assert updated.updated_at > created.updated_at
    assert (await inventory.get_device(core, instance, "r1")) == updated


async def test_invalid_devices_are_refused_with_each_field(core: Core, instance: Instance
                                                           ) -> None:
    with pytest.raises(Invalid) as caught:
        await inventory.save_device(core, instance, {"name": "", "port": 70000,
                                                     "bad key": 1, "vendor": ["x"]})
    assert set(caught.value.fields) == {"name", "port", "bad key", "vendor"}
    for name in ("a/b", "it's", "x" * 257):
        with pytest.raises(Invalid):
            await inventory.save_device(core, instance, {"name": name})


async def test_bulk_upsert_of_10000_devices_in_one_call(core: Core, instance: Instance) -> None:
    items = [{"name": f"d{index:05d}", "vendor": ["Cisco", "Juniper"][index % 2],
              "ip_address": f"10.1.{index // 256}.{index % 256}", "rack": f"r{index % 7}"}
             for index in range(10_000)]
    items.insert(5000, {"name": "", "vendor": "broken"})
    report = await inventory.save_devices(core, instance, items)
    assert len(report.success) == 10_000
    assert [(failure.index, failure.name) for failure in report.failure] == [(5000, "")]
    again = await inventory.save_devices(
        core, instance, [{"name": f"d{index:05d}", "model": "m"} for index in range(0, 10_000, 2)]
    )
    assert len(again.success) == 5000
    found = await inventory.query_devices(core, instance, {"model": "m"})
    assert len(found) == 5000
    assert {device.vendor for device in found} == {"Cisco"}  # kept, not reset
    assert found[0].properties == {"rack": "r0"}


async def test_values_survive_the_bulk_paths_unchanged(core: Core, instance: Instance) -> None:
    tricky = {"quote": "it's \"quoted\" \\ back", "uni": "Zürich ✓", "nested": {"a": [1, None]},
              "null": None, "big": 2**40, "float": 1.25, "flag": False, "empty": ""}
    names = [f"t{index}" for index in range(1200)]  # past the PostgreSQL ANALYZE threshold
    await inventory.save_devices(core, instance, [
        {"name": name, "description": "multi\nline, {braces}", **tricky} for name in names])
    first = await inventory.get_device(core, instance, "t7")
    assert first.properties == tricky
    assert (first.description, first.port) == ("multi\nline, {braces}", None)
    await inventory.save_devices(core, instance, [
        {"name": name, "uni": "Genève", "port": 8022} for name in names])
    again = await inventory.get_device(core, instance, "t1100")
    assert again.properties == {**tricky, "uni": "Genève"}
    assert (again.port, again.description) == (8022, "multi\nline, {braces}")


async def test_a_name_given_twice_in_one_batch_is_merged(core: Core, instance: Instance) -> None:
    await inventory.save_devices(core, instance, [{"name": "r", "vendor": "A", "p": 1},
                                                  {"name": "r", "model": "M", "q": 2}])
    device = await inventory.get_device(core, instance, "r")
    assert (device.vendor, device.model, device.properties) == ("A", "M", {"p": 1, "q": 2})


async def test_delete_device_answers_it_and_leaves_manual_pools(core: Core, varied: Instance
                                                               ) -> None:
    await pools.save_pool(core, varied, {"name": "m", "devices": ["core-1", "edge-1"]})
    deleted = await inventory.delete_device(core, varied, "core-1")
    assert deleted.name == "core-1"
    with pytest.raises(NotFound):
        await inventory.get_device(core, varied, "core-1")
    with pytest.raises(NotFound):
        await inventory.delete_device(core, varied, "core-1")
    assert (await pools.get_pool(core, varied, "m")).members == ["edge-1"]


async def test_query_by_column_and_custom_property(core: Core, varied: Instance) -> None:
    names = [d.name for d in await inventory.query_devices(core, varied, {"role": "edge"})]
    assert names == ["edge-1", "edge-2"]
    found = await inventory.query_devices(core, varied, {"port": "22", "managed": "true"})
    assert [device.name for device in found] == ["core-1"]
    assert await inventory.query_devices(core, varied, {"vendor": "Cisco", "tier": "2"}) == []


async def test_devices_are_per_instance(core: Core, varied: Instance) -> None:
    other = await create_instance(core, None, {"name": "other"})
    await inventory.save_device(core, other, {"name": "core-1", "vendor": "Other"})
    assert (await inventory.get_device(core, varied, "core-1")).vendor == "Cisco"
    assert (await inventory.get_device(core, other, "core-1")).vendor == "Other"
    resolved = await resolve_targets(core, other, devices=["edge-1"], pools=[],
                                     ip_addresses=[], ignore_invalid=False)
    assert resolved.errors == ["No device with the name 'edge-1'"]


# Filter pools: SQL agrees with the Python semantics -----------------------------------------

FILTER_CASES = [
    {"device_vendor": "isco"},
    {"device_vendor": "Cisco", "device_vendor_match": "equality"},
    {"device_vendor": "Cisco", "device_vendor_match": "equality", "device_vendor_invert": True},
    {"device_vendor": "^[cC]isco$", "device_vendor_match": "regex"},
    {"device_vendor_match": "empty"},
    {"device_vendor_match": "empty", "device_vendor_invert": True},
    {"device_model": "MX", "device_model_invert": True},
    {"device_name": "lab_", "device_name_match": "inclusion"},
    {"device_name": "lab%", "device_name_match": "inclusion"},
    {"device_description": "% device_", "device_description_match": "inclusion"},
    {"device_port": "22", "device_port_match": "equality"},
    {"device_port_match": "empty"},
    {"device_port": "^8", "device_port_match": "regex"},
    {"device_role": "core", "device_role_match": "equality"},
    {"device_role": "ed", "device_role_match": "inclusion"},
    {"device_role_match": "empty"},
    {"device_role": "^(core|edge)$", "device_role_match": "regex", "device_role_invert": True},
    {"device_rack_match": "empty"},
    {"device_tier": "1", "device_tier_match": "inclusion"},
    {"device_tier": "10", "device_tier_match": "equality"},
    {"device_managed": "true", "device_managed_match": "equality"},
    {"device_managed": "false", "device_managed_invert": True},
    {"device_note": "(50%)", "device_note_match": "inclusion"},
    {"device_note": r"\(50%\) a\.b$", "device_note_match": "regex"},
    {"device_missing": "x", "device_missing_invert": True},
    {"device_vendor": "Juniper", "device_vendor_match": "equality", "device_role": "edge",
     "device_port_match": "empty"},
    {"device_ip_address": "10.0.0", "device_vendor": "", "device_model": "A"},
]


@pytest.mark.parametrize("filters", FILTER_CASES, ids=lambda case: repr(case)[:60])
async def test_filter_pool_resolution_matches_the_semantics(
    core: Core, varied: Instance, filters: dict[str, Any]
) -> None:
    expected = sorted(
        device.name for device in await inventory.query_devices(core, varied, {})
        if device_matches(device, [f for f in flat_filters(filters).values() if f])
    )
    assert await members(core, varied, {"name": "p", **filters}) == expected
    assert (await pools.get_pool(core, varied, "p")).device_count == len(expected)


async def test_semantics_on_the_varied_inventory(core: Core, varied: Instance) -> None:
    """A few cases spelled out, so the comparison above cannot agree on a wrong answer."""
    cases = {
        "cisco": ({"device_vendor": "isco"}, ["core-1", "core-2"]),
        "equal": ({"device_vendor": "Cisco", "device_vendor_match": "equality"}, ["core-1"]),
        "empty": ({"device_vendor_match": "empty"}, ["lab-1"]),
        "role-empty": ({"device_role_match": "empty"}, ["lab-1", "lab_2"]),
        "like-chars": ({"device_name": "lab_"}, ["lab_2"]),
        "no-port": ({"device_port_match": "empty", "device_vendor": "Jun"}, ["edge-2"]),
        "bool": ({"device_managed": "true", "device_managed_match": "equality"}, ["core-1"]),
        "all": ({}, [d["name"] for d in sorted(VARIED, key=lambda d: d["name"])]),
    }
    for name, (filters, expected) in cases.items():
        assert await members(core, varied, {"name": name, **filters}) == expected, name


async def test_structured_filters_and_updates(core: Core, varied: Instance) -> None:
    structured = {"filters": {"vendor": {"value": "Juniper", "match": "equality"},
                              "role": {"value": "edge"}}}
    assert await members(core, varied, {"name": "s", **structured}) == ["edge-1", "edge-2"]
    # A flat update changes one filter and keeps the others.
    assert await members(core, varied, {"name": "s", "device_port": "830"}) == ["edge-1"]
    # An empty value removes that filter.
    assert await members(core, varied, {"name": "s", "device_port": ""}) == ["edge-1", "edge-2"]
    # A structured `filters` replaces them all.
    replaced = {"name": "s", "filters": {"model": {"value": "vMX", "match": "equality"}}}
    assert await members(core, varied, replaced) == ["lab-1"]


async def test_invalid_regex_is_refused_when_the_pool_is_saved(core: Core, varied: Instance
                                                              ) -> None:
    with pytest.raises(Invalid) as caught:
        await pools.save_pool(core, varied, {"name": "bad", "device_vendor": "Cis[co",
                                             "device_vendor_match": "regex"})
    assert "device_vendor" in caught.value.fields
    assert "Invalid regular expression" in caught.value.fields["device_vendor"][0]
    with pytest.raises(NotFound):
        await pools.get_pool(core, varied, "bad")


async def test_a_regex_postgresql_cannot_run_is_refused_there(core: Core, varied: Instance
                                                             ) -> None:
    """Python's named groups are no PostgreSQL regex: refused at save time there, not at run."""
    pool = {"name": "named", "device_role": "(?P<r>core)", "device_role_match": "regex"}
    if core.database.is_postgres:
        with pytest.raises(Invalid) as caught:
            await pools.save_pool(core, varied, pool)
        assert "for this database" in caught.value.fields["device_role"][0]
    else:
        assert await members(core, varied, pool) == ["core-1", "core-2"]


# Manual pools ------------------------------------------------------------------------------


async def test_manual_pool_members(core: Core, varied: Instance) -> None:
    assert await members(core, varied, {"name": "m", "manually_defined": True,
                                        "devices": ["edge-2", "core-1"]}) == ["core-1", "edge-2"]
    # Given devices and no filter, a new pool is manual.
    assert await members(core, varied, {"name": "m2", "devices": ["lab-1"]}) == ["lab-1"]
    view = await pools.get_pool(core, varied, "m")
    assert (view.pool.manually_defined, view.members, view.device_count) == (
        True, ["core-1", "edge-2"], 2)
    with pytest.raises(Invalid) as caught:
        await pools.save_pool(core, varied, {"name": "m", "devices": ["core-1", "nope"]})
    assert caught.value.fields == {"devices": ["No device with the name 'nope'."]}
    assert (await pools.get_pool(core, varied, "m")).members == ["core-1", "edge-2"]
    # Turned into a filter pool, it loses its members: they are the filter's, computed.
    assert await members(core, varied, {"name": "m", "manually_defined": False,
                                        "device_role": "core"}) == ["core-1", "core-2"]
    assert (await pools.get_pool(core, varied, "m")).members == ["core-1", "core-2"]
    # Given devices and no filter again, it is a manual pool again.
    assert await members(core, varied, {"name": "m", "devices": ["lab_2"]}) == ["lab_2"]
    # Other updates keep its members.
    await pools.save_pool(core, varied, {"name": "m", "description": "lab"})
    view = await pools.get_pool(core, varied, "m")
    assert (view.pool.description, view.members) == ("lab", ["lab_2"])


async def test_pool_query_and_search(core: Core, varied: Instance) -> None:
    await pools.save_pools(core, varied, [
        {"name": "one", "devices": ["lab-1"]},
        {"name": "ten", "device_vendor": "", "device_name": "-"},  # core-1.. lab-1: 5
        {"name": "all"},
    ])
    assert [v.pool.name for v in await pools.query_pools(core, varied, {"device_count": "5"})] == [
        "ten"]
    ordered = await pools.search_pools(core, varied, parse_search({
        "type": "pool", "order": [{"column": "device_count", "dir": "desc"}]}))
    assert [(v.pool.name, v.device_count) for v in ordered] == [("all", 6), ("ten", 5),
                                                                ("one", 1)]


async def test_a_manual_pool_with_filters_is_refused(core: Core, varied: Instance) -> None:
    with pytest.raises(Invalid) as caught:
        await pools.save_pool(core, varied, {"name": "x", "manually_defined": True,
                                             "devices": ["core-1"], "device_vendor": "Cisco"})
    assert "manually_defined" in caught.value.fields


async def test_save_pools_reports_each_failure(core: Core, varied: Instance) -> None:
    report = await pools.save_pools(core, varied, [
        {"name": "good", "device_vendor": "Juniper"},
        {"name": "bad-regex", "device_name": "(", "device_name_match": "regex"},
        {"name": "bad-members", "devices": ["ghost"]},
        "not an object",
        {"name": "good-2", "devices": ["lab-1"]},
    ])
    assert report.success == ["good", "good-2"]
    assert [(f.index, f.name) for f in report.failure] == [
        (1, "bad-regex"), (2, "bad-members"), (3, None)]
    assert "ghost" in report.failure[1].error


# Target resolution -------------------------------------------------------------------------


async def test_targets_are_a_union_each_device_once_sorted(core: Core, varied: Instance) -> None:
    await pools.save_pool(core, varied, {"name": "cores", "device_role": "core"})
    await pools.save_pool(core, varied, {"name": "ciscos", "device_vendor": "isco"})
    await pools.save_pool(core, varied, {"name": "manual", "devices": ["core-1", "lab_2"]})
    resolved = await resolve_targets(
        core, varied, devices=["core-1", "edge-2", "core-1"], pools=["cores", "ciscos", "manual"],
        ip_addresses=["10.0.1.1", "10.0.0.2"], ignore_invalid=False,
    )
    assert resolved.errors == []
    assert [device.name for device in resolved.devices] == [
        "core-1", "core-2", "edge-1", "edge-2", "lab_2"]
    # What the run's execution will see of each: columns and custom properties together.
    assert resolved.devices[0].attributes["rack"] == "A1"
    assert resolved.devices[0].attributes["name"] == "core-1"
    # The same whether the device was named or came from a pool (core-2: pools only).
    from_pool = resolved.devices[1].attributes
    assert from_pool["name"] == "core-2" and from_pool["id"] == resolved.devices[1].id
    assert set(from_pool) >= {"ip_address", "vendor", "port", "role"}


async def test_an_address_names_every_device_at_it(core: Core, varied: Instance) -> None:
    resolved = await resolve_targets(core, varied, devices=[], pools=[],
                                     ip_addresses=["10.0.0.1"], ignore_invalid=False)
    assert [device.name for device in resolved.devices] == ["core-1", "lab-1"]


async def test_unknown_targets_are_errors_and_nothing_resolves(core: Core, varied: Instance
                                                              ) -> None:
    args: dict[str, Any] = {"devices": ["core-1", "ghost", "ghost"], "pools": ["nopool"],
                            "ip_addresses": ["10.9.9.9"]}
    expected = ["No device with the name 'ghost'", "No device with the IP address '10.9.9.9'",
                "No pool with the name 'nopool'"]
    strict = await resolve_targets(core, varied, **args, ignore_invalid=False)
    assert (strict.devices, strict.errors) == ([], expected)
    lenient = await resolve_targets(core, varied, **args, ignore_invalid=True)
    assert [device.name for device in lenient.devices] == ["core-1"]
    assert lenient.errors == expected


@pytest.mark.parametrize("bad", ["core-1", {"core-1": 1}, [1, 2], ["ok", None], 3])
async def test_targets_that_are_not_lists_of_strings_are_invalid(
    core: Core, varied: Instance, bad: Any
) -> None:
    for field in ("devices", "pools", "ip_addresses"):
        args: dict[str, Any] = {"devices": [], "pools": [], "ip_addresses": []} | {field: bad}
        with pytest.raises(Invalid) as caught:
            await resolve_targets(core, varied, **args, ignore_invalid=False)
        assert list(caught.value.fields) == [field]


async def test_ten_thousand_names_in_one_call(core: Core, instance: Instance) -> None:
    names = [f"n{index:05d}" for index in range(10_000)]
    await inventory.save_devices(core, instance, [{"name": name} for name in names])
    await pools.save_pool(core, instance, {"name": "big", "devices": names[:6000]})
    resolved = await resolve_targets(
        core, instance, devices=[*reversed(names), "missing"], pools=["big"], ip_addresses=[],
        ignore_invalid=True,
    )
    assert [device.name for device in resolved.devices] == names
    assert resolved.errors == ["No device with the name 'missing'"]
    by_pool = await resolve_pool_names(core, instance, ["big"])
    assert len(by_pool.devices) == 6000


async def test_filter_over_a_custom_property_in_bulk(core: Core, instance: Instance) -> None:
    await inventory.save_devices(core, instance, [
        {"name": f"d{index:04d}", "site": f"site-{index % 10}", "weight": index % 3}
        for index in range(2000)
    ])
    assert len(await members(core, instance, {"name": "s3", "device_site": "site-3",
                                              "device_site_match": "equality"})) == 200
    heavy = await members(core, instance, {"name": "w", "device_weight": "^[12]$",
                                           "device_weight_match": "regex",
                                           "device_site": "site-1$", "device_site_match": "regex"})
    assert len(heavy) == 200 * 2 // 3 + 1  # indexes 1, 11, 21... with index % 3 in (1, 2)


# Import --------------------------------------------------------------------------------------


async def test_import_keeps_good_rows_and_reports_bad_ones(core: Core, instance: Instance
                                                          ) -> None:
    report = await import_inventory(
        core, instance,
        devices=[ImportRow(1, {"name": "a", "vendor": "X"}), ImportRow(2, {"name": "a/b"}),
                 ImportRow(3, {"name": "c", "port": "22"})],
        pools=[ImportRow(1, {"name": "p", "devices": ["a", "c"]}),
               ImportRow(2, {"name": "q", "devices": ["zz"]})],
    )
    assert (report.devices, report.pools) == (2, 1)
    assert [(error.kind, error.row) for error in report.errors] == [("device", 2), ("pool", 2)]
    assert report.summary == "imported 2 devices, 1 pools; 2 errors"
    assert (await pools.get_pool(core, instance, "p")).members == ["a", "c"]


async def test_inventory_files_of_each_shape(core: Core, instance: Instance, tmp_path: Path
                                             ) -> None:
    await inventory.save_devices(core, instance, [{"name": "a"}, {"name": "b"}])
    pools_csv = tmp_path / "pools.csv"
    pools_csv.write_text(
        "name,devices,device_vendor,device_vendor_match\n"
        'manual,"a; b",,\n'
        "by-vendor,,Cisco,equality\n"
        "extra,a,,,surplus\n"
    )
    read = read_inventory_file(pools_csv, "pool")
    assert (read.devices, [row.data.get("devices") for row in read.pools]) == (
        [], [["a", "b"], None, ["a"]])
    report = await import_inventory(core, instance, pools=read.pools)
    assert report.pools == 2
    assert [(error.row, error.line) for error in report.errors] == [(3, 4)]
    assert "more cells" in report.errors[0].message
    assert (await pools.get_pool(core, instance, "manual")).members == ["a", "b"]

    both = tmp_path / "both.json"
    both.write_text('{"devices": [{"name": "c"}], "pools": [{"name": "p", "devices": ["c"]}]}')
    read = read_inventory_file(both)
    assert (len(read.devices), len(read.pools)) == (1, 1)
    assert read_inventory_file(both, "device").pools == []
    listed = tmp_path / "pools.yml"
    listed.write_text("- name: y\n  device_vendor: Juniper\n")
    assert [row.data for row in read_inventory_file(listed, "pool").pools] == [
        {"name": "y", "device_vendor": "Juniper"}]

    for name, content in (("x.txt", "name\n"), ("x.json", '{"name": "lonely"}'),
                          ("x.yaml", "devices: {name: x}\n"), ("x.csv", ""),
                          ("x.yaml", "- [unclosed\n")):
        bad = tmp_path / name
        bad.write_text(content)
        with pytest.raises(UnreadableFile):
            read_inventory_file(bad)
    with pytest.raises(UnreadableFile):
        read_inventory_file(tmp_path / "missing.json")


async def test_a_pool_target_is_what_the_device_record_shows(
    core: Core, varied: Instance
) -> None:
    """Pools are read straight into run targets (no device records in between): each must
    carry exactly the attributes the device record would give its execution."""
    await pools.save_pool(core, varied, {"name": "all", "device_vendor_match": "empty",
                                         "device_vendor_invert": True})
    resolved = await resolve_targets(core, varied, devices=[], pools=["all"], ip_addresses=[],
                                     ignore_invalid=False)
    assert resolved.devices
    for target in resolved.devices:
        device = await inventory.get_device(core, varied, target.name)
        assert target.attributes == device.attributes()
        assert list(target.attributes) == list(device.attributes())  # the same order too
        assert (target.id, target.ip_address) == (device.id, device.ip_address)


async def test_a_catastrophic_regex_resolves_in_linear_time(core: Core, instance: Instance
                                                            ) -> None:
    """`(a+)+$` against "a"*40 + "!" takes Python's re about 2^40 steps (the server stalled
    for every tenant); matched by RE2 (SQLite's REGEXP, the pools' own matching) or by
    PostgreSQL's engine it answers at once. Without the fix this test runs into its timeout."""
    report = await inventory.save_devices(core, instance, [
        {"name": f"slow-{n}", "vendor": "a" * 40 + "!"} for n in range(4)
    ] + [{"name": "fast", "vendor": "aaaa"}])
    assert report.failure == []
    pool = {"name": "redos", "device_vendor": "(a+)+$", "device_vendor_match": "regex"}
    assert await members(core, instance, pool) == ["fast"]


@pytest.mark.parametrize("pattern", [r"(a)\1", "(?=a)b", "(?<!x)y"])
async def test_a_regex_re2_cannot_run_is_refused_when_saved(
    core: Core, instance: Instance, pattern: str
) -> None:
    with pytest.raises(Invalid) as caught:
        await pools.save_pool(core, instance, {"name": "bad", "device_vendor": pattern,
                                               "device_vendor_match": "regex"})
    message = caught.value.fields["device_vendor"][0]
    assert message.startswith(f"Invalid regular expression {pattern!r}: ")
    assert "no backreferences or lookarounds" in message
