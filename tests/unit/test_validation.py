"""Validators of loose JSON fields, with Syncano's limits and texts."""

from __future__ import annotations

import pytest

from runplane.core import validation
from runplane.errors import Invalid
from runplane.settings import Settings

SETTINGS = Settings(database="sqlite:///unused.db")


def fields_of(error: pytest.ExceptionInfo[Invalid]) -> dict[str, list[str]]:
    return error.value.fields


def test_payload_accepts_objects_arrays_and_strings_holding_them() -> None:
    assert validation.payload({"a": 1}) == {"a": 1}
    assert validation.payload([1, 2]) == [1, 2]
    assert validation.payload('{"a": 1}') == {"a": 1}


@pytest.mark.parametrize("value", [42, None, True, '"text"', "12"])
def test_payload_refuses_other_values(value: object) -> None:
    with pytest.raises(Invalid) as error:
        validation.payload(value)
    assert fields_of(error) == {"payload": ["Payload passed in invalid format."]}


def test_payload_string_that_is_not_json() -> None:
    with pytest.raises(Invalid) as error:
        validation.payload("not json")
    assert fields_of(error) == {"payload": ["Not a valid JSON string."]}


def test_config_limits_use_syncano_texts() -> None:
    with pytest.raises(Invalid) as many:
        validation.config({f"k{i}": i for i in range(1025)}, SETTINGS)
    assert fields_of(many) == {"config": ["Too many keys defined (exceeds 1024)."]}
    with pytest.raises(Invalid) as long_key:
        validation.config({"k" * 65: 1}, SETTINGS)
    assert fields_of(long_key) == {"config": ["Too long key defined (exceeds 64)."]}
    with pytest.raises(Invalid) as big:
        validation.config({"k": "x" * (256 * 1024)}, SETTINGS)
    assert fields_of(big) == {"config": ["Too big object defined (exceeds 262144)."]}
    with pytest.raises(Invalid) as shape:
        validation.config([1], SETTINGS)
    assert fields_of(shape) == {"config": ["Config passed in invalid format."]}


def test_config_at_the_limits_is_accepted() -> None:
    assert len(validation.config({f"k{i}": i for i in range(1024)}, SETTINGS)) == 1024
    assert validation.config('{"a": 1}', SETTINGS) == {"a": 1}
    assert validation.config(None, SETTINGS) == {}


def test_metadata_limits() -> None:
    assert validation.metadata('{"color": "red"}') == {"color": "red"}
    with pytest.raises(Invalid) as many:
        validation.metadata({str(i): i for i in range(9)})
    assert fields_of(many) == {"metadata": ["Too many keys defined (exceeds 8)."]}
    with pytest.raises(Invalid) as value:
        validation.metadata({"k": "x" * 5000})
    assert "Too long value defined for key k" in fields_of(value)["metadata"][0]


def test_text_fields() -> None:
    assert validation.text("label", "ok", max_chars=5, required=True) == "ok"
    with pytest.raises(Invalid):
        validation.text("label", None, max_chars=5, required=True)
    with pytest.raises(Invalid):
        validation.text("label", "   ", max_chars=5, required=True)
    with pytest.raises(Invalid) as long:
        validation.text("label", "x" * 6, max_chars=5)
    assert fields_of(long) == {"label": ["Ensure this field has no more than 5 characters."]}
    with pytest.raises(Invalid):
        validation.text("label", 12, max_chars=5)


@pytest.mark.parametrize("timeout", [-1, 0, 301, 1e308, 2**80, "abc", "5", True, None, [5]])
def test_a_config_timeout_outside_its_range_is_refused(timeout: object) -> None:
    with pytest.raises(Invalid) as error:
        validation.config({"timeout": timeout}, SETTINGS)
    assert fields_of(error) == {"config": [
        "timeout: Ensure this value is a number of seconds greater than 0 and at most 300."]}


@pytest.mark.parametrize("timeout", [0.5, 1, 300])
def test_a_config_timeout_within_its_range_is_kept(timeout: float) -> None:
    assert validation.config({"timeout": timeout}, SETTINGS) == {"timeout": timeout}
