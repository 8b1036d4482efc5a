"""Keys and roles."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from runplane.core.access import Role, hash_key, new_key, require
from runplane.errors import Forbidden, NotFound
from runplane.model import ApiKey, Instance

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def instance(instance_id: int) -> Instance:
    return Instance(instance_id, f"i{instance_id}", "", {}, {}, NOW, NOW)


def key(role: str, instance_id: int | None = None) -> ApiKey:
    return ApiKey(1, instance_id, None, role, "", NOW)


def test_new_keys_look_like_syncano_keys_and_differ() -> None:
    first, second = new_key(), new_key()
    assert len(first) == 40 and int(first, 16) >= 0
    assert first != second


def test_hash_is_keyed_and_case_insensitive() -> None:
    secret_a, secret_b = "a" * 64, "b" * 64
    value = new_key()
    assert hash_key(secret_a, value) == hash_key(secret_a, value.upper())
    assert hash_key(secret_a, value) != hash_key(secret_b, value)
    assert value not in hash_key(secret_a, value)


def test_roles_include_the_ones_below() -> None:
    require(key("admin"), Role.read, instance(1))
    require(key("write"), Role.run, instance(1))
    with pytest.raises(Forbidden):
        require(key("read"), Role.run, instance(1))
    with pytest.raises(Forbidden):
        require(key("run"), Role.write, instance(1))


def test_instance_keys_stay_in_their_instance() -> None:
    require(key("admin", 1), Role.write, instance(1))
    # Another tenant's instance is not found, as an unknown one is (no existence oracle).
    with pytest.raises(NotFound, match=r"^Instance was not found\.$"):
        require(key("admin", 1), Role.read, instance(2))
    with pytest.raises(NotFound):
        require(key("read", 1), Role.admin, instance(2))
    with pytest.raises(Forbidden):  # its own instance, without the role
        require(key("read", 1), Role.run, instance(1))
    with pytest.raises(Forbidden):  # account-wide actions need an account key
        require(key("admin", 1), Role.admin)


def test_role_parse() -> None:
    assert Role.parse("run") is Role.run
    with pytest.raises(ValueError, match="choose one of"):
        Role.parse("owner")
