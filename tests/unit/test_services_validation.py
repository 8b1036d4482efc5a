"""Validating a service (core/services.checked_fields) without a database: types, bounds, code,
and the eNMS fields runplane does not use, kept in `properties` and given back by the eNMS
dialect's service_fields."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from runplane.api.dialects.enms import service_fields
from runplane.core import services
from runplane.core.services import DEFAULTS, checked_fields
from runplane.errors import Invalid, NotFound
from runplane.model import Service
from runplane.settings import Settings

pytestmark = pytest.mark.anyio

NOW = datetime(2020, 4, 28, 12, 21, 11, tzinfo=UTC)
INSTANCE: Any = SimpleNamespace(id=7, name="default")
SNIPPET = "results['success'] = True"


class FakeDatabase:
    """Enough of Database for the script lookup: a unit of work on a connection that is
    never used (the store's lookup is replaced in the tests that reach it)."""

    async def read(self, work: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return work(object(), *args, **kwargs)

    read_small = read


def fake_core(**settings: Any) -> Any:
    return SimpleNamespace(settings=Settings(**settings), database=FakeDatabase())


@pytest.fixture
def core() -> Any:
    return fake_core()


@pytest.fixture
def scripts(monkeypatch: pytest.MonkeyPatch) -> dict[int, Any]:
    """The scripts of instance 7 that checked_fields may find, by id."""
    known: dict[int, Any] = {}

    def get_script(conn: object, instance_id: int, number: int) -> Any:
        return known.get(number) if instance_id == INSTANCE.id else None

    monkeypatch.setattr(services.script_store, "get_script", get_script)
    return known


async def check(core: Any, current: Service | None = None, **given: Any) -> dict[str, Any]:
    return await checked_fields(core, INSTANCE, given, current=current)


async def refused(core: Any, field: str, current: Service | None = None, **given: Any) -> str:
    """The message for `field` when `given` is refused (fails the test if it is accepted)."""
    with pytest.raises(Invalid) as caught:
        await check(core, current, **given)
    assert field in caught.value.fields, caught.value.fields
    return caught.value.fields[field][0]


def service(**fields: Any) -> Service:
    values = {**DEFAULTS, "source_code": SNIPPET, **fields}
    return Service(id=1, instance_id=INSTANCE.id, name="svc", created_at=NOW, updated_at=NOW,
                   **values)


# Creating ----------------------------------------------------------------------------------


async def test_a_new_snippet_service_gets_every_default(core: Any) -> None:
    fields = await check(core, source_code=SNIPPET)
    assert fields == {**DEFAULTS, "source_code": SNIPPET}
    assert fields["type"] == "python_snippet_service"
    assert (fields["run_method"], fields["max_processes"]) == ("per_device", 50)
    assert (fields["number_of_retries"], fields["timeout"]) == (0, None)


async def test_an_unknown_type_is_refused(core: Any) -> None:
    assert "python_snippet_service" in await refused(core, "type", type="netmiko_service")
    assert await check(core, type="shell_command_service", command="cat")


@pytest.mark.parametrize("value", ["sometimes", "", None, 1, "PER_DEVICE"])
async def test_run_method_must_be_per_device_or_once(core: Any, value: Any) -> None:
    await refused(core, "run_method", source_code=SNIPPET, run_method=value)


async def test_run_method_once(core: Any) -> None:
    assert (await check(core, source_code=SNIPPET, run_method="once"))["run_method"] == "once"


@pytest.mark.parametrize(("value", "expected"), [(1, 1), (1000, 1000), ("25", 25), (50, 50)])
async def test_max_processes_within_bounds(core: Any, value: Any, expected: int) -> None:
    assert (await check(core, source_code=SNIPPET, max_processes=value))["max_processes"] == (
        expected)


@pytest.mark.parametrize("value", [0, -1, 1001, 10**9, True, 2.5, "many", None, [4]])
async def test_max_processes_out_of_bounds_or_not_an_integer(core: Any, value: Any) -> None:
    message = await refused(core, "max_processes", source_code=SNIPPET, max_processes=value)
    assert "1000" in message or "integer" in message


@pytest.mark.parametrize(("value", "ok"), [
    (0, True), (2, True), (100, True), (101, False), (-1, False), (False, False), ("3", True),
])
async def test_number_of_retries(core: Any, value: Any, ok: bool) -> None:
    if ok:
        fields = await check(core, source_code=SNIPPET, number_of_retries=value)
        assert fields["number_of_retries"] == int(value)
    else:
        await refused(core, "number_of_retries", source_code=SNIPPET, number_of_retries=value)


@pytest.mark.parametrize(("value", "expected"), [(0, 0.0), (0.2, 0.2), ("1.5", 1.5),
                                                 (3600, 3600.0)])
async def test_time_between_retries_in_seconds(core: Any, value: Any, expected: float) -> None:
    fields = await check(core, source_code=SNIPPET, time_between_retries=value)
    assert fields["time_between_retries"] == expected


@pytest.mark.parametrize("value", [-0.1, 3600.5, True, "soon", None, {}])
async def test_time_between_retries_refused(core: Any, value: Any) -> None:
    await refused(core, "time_between_retries", source_code=SNIPPET, time_between_retries=value)


async def test_timeout_none_or_seconds_up_to_the_script_maximum() -> None:
    core = fake_core(script_timeout_max=120)
    assert (await check(core, source_code=SNIPPET, timeout=None))["timeout"] is None
    assert (await check(core, source_code=SNIPPET, timeout=1))["timeout"] == 1.0
    assert (await check(core, source_code=SNIPPET, timeout="120"))["timeout"] == 120.0
    assert "120" in await refused(core, "timeout", source_code=SNIPPET, timeout=121)
    await refused(core, "timeout", source_code=SNIPPET, timeout=-1)
    await refused(core, "timeout", source_code=SNIPPET, timeout="never")


async def test_a_snippet_with_a_syntax_error_is_refused_with_its_line(core: Any) -> None:
    message = await refused(core, "source_code", source_code="x = 1\nif True print(x)\n")
    assert message.startswith("Syntax error line 2:"), message


async def test_an_empty_snippet_is_valid_python(core: Any) -> None:
    assert (await check(core))["source_code"] == ""


@pytest.mark.parametrize("value", [5, ["print(1)"], "x\x00"])
async def test_code_must_be_text(core: Any, value: Any) -> None:
    await refused(core, "source_code", source_code=value)


@pytest.mark.parametrize("command", [None, "", "   \n"])
async def test_a_shell_service_needs_a_command(core: Any, command: Any) -> None:
    assert "command" in await refused(core, "command", type="shell_command_service",
                                      command=command)


async def test_a_shell_service_does_not_compile_its_command_as_python(core: Any) -> None:
    fields = await check(core, type="shell_command_service", command="echo 'not python' |")
    assert fields["command"] == "echo 'not python' |"


async def test_a_script_service_needs_an_existing_script(
    core: Any, scripts: dict[int, Any]
) -> None:
    await refused(core, "script", type="script_service")
    await refused(core, "script", type="script_service", script="abc")
    assert "5" in await refused(core, "script", type="script_service", script=5)
    scripts[5] = SimpleNamespace(id=5)
    fields = await check(core, type="script_service", script="5")
    assert fields["script_id"] == 5


@pytest.mark.parametrize("field", ["devices", "pools"])
async def test_default_targets_are_lists_of_names_without_duplicates(
    core: Any, field: str
) -> None:
    fields = await check(core, source_code=SNIPPET, **{field: ["b", "a", "b"]})
    assert fields[field] == ["b", "a"]
    assert (await check(core, source_code=SNIPPET, **{field: None}))[field] == []
    for wrong in ("a", ["a", 1], {"a": 1}, [None]):
        await refused(core, field, source_code=SNIPPET, **{field: wrong})


async def test_initial_payload_is_an_object_or_a_string_holding_one(core: Any) -> None:
    payload = {"site": "paris", "n": [1]}
    assert (await check(core, initial_payload=payload))["initial_payload"] == payload
    assert (await check(core, initial_payload='{"a": 1}'))["initial_payload"] == {"a": 1}
    assert (await check(core, initial_payload=None))["initial_payload"] == {}
    for wrong in ("[1, 2]", [1, 2], "{not json", 3):
        await refused(core, "initial_payload", initial_payload=wrong)


async def test_description_is_bounded_text(core: Any) -> None:
    assert (await check(core, description="hello"))["description"] == "hello"
    await refused(core, "description", description="x" * 4097)
    await refused(core, "description", description=12)


# eNMS's other fields -----------------------------------------------------------------------


ENMS_EXTRAS = {"vendor": "Cisco", "credentials": "device", "waiting_time": 0,
               "conversion_method": "none", "validation_method": "text",
               "mail_recipient": "", "content_match": "", "shared": False}


async def test_extra_enms_fields_are_kept_in_properties_and_bookkeeping_dropped(
    core: Any
) -> None:
    fields = await check(core, source_code=SNIPPET, id=41, scoped_name="svc",
                         creation_time="2020-04-28", last_modified="x",
                         last_modified_by="admin", name="svc", **ENMS_EXTRAS)
    assert fields["properties"] == ENMS_EXTRAS
    assert "id" not in fields and "name" not in fields and "scoped_name" not in fields


async def test_service_fields_flattens_properties_beside_the_fields() -> None:
    saved = service(properties=ENMS_EXTRAS, script_id=None, devices=["Washington"])
    shown = service_fields(saved)
    assert {key: shown[key] for key in ENMS_EXTRAS} == ENMS_EXTRAS
    assert shown["name"] == "svc"
    assert shown["script"] is None
    assert shown["devices"] == ["Washington"]
    assert shown["source_code"] == SNIPPET
    assert "properties" not in shown and "script_id" not in shown
    # A property named like a field never hides the field.
    clash = service_fields(service(properties={"max_processes": "lots"}, max_processes=5))
    assert clash["max_processes"] == 5


async def test_extra_fields_over_the_size_limit_are_refused() -> None:
    core = fake_core(config_max_bytes=1024)
    with pytest.raises(Invalid) as caught:
        await check(core, source_code=SNIPPET, blob="x" * 2000)
    assert "properties" in caught.value.fields


# Updating ----------------------------------------------------------------------------------


async def test_an_update_answers_only_the_fields_given_and_merges_properties(
    core: Any
) -> None:
    current = service(properties={"vendor": "Cisco"}, max_processes=5)
    fields = await check(core, current, max_processes=10, role="core")
    assert fields == {"max_processes": 10, "properties": {"vendor": "Cisco", "role": "core"}}


async def test_an_update_is_checked_against_the_merged_service(core: Any) -> None:
    # Changing the type alone: the existing (empty) command makes it invalid.
    await refused(core, "command", service(), type="shell_command_service")
    shell = service(type="shell_command_service", command="cat", source_code="")
    assert await check(core, shell, description="still fine") == {
        "description": "still fine", "properties": {}}
    # A snippet service whose new code does not compile is refused.
    await refused(core, "source_code", service(), source_code="def broken(:\n")


async def test_an_update_keeps_current_values_not_given(core: Any) -> None:
    current = replace(service(), number_of_retries=3, timeout=5.0)
    fields = await check(core, current, description="d")
    assert "number_of_retries" not in fields and "timeout" not in fields


def test_a_name_with_a_nul_names_no_service() -> None:
    """It is not looked up: PostgreSQL refuses NUL in a query's text (a 500, not a 404)."""
    with pytest.raises(NotFound):
        services.checked_name("lookup\x00")
