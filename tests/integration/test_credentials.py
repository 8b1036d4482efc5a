"""Credentials on a real database (SQLite and PostgreSQL): saved with their secrets encrypted,
never stored in plain text, chosen for a device as eNMS chooses, and re-encrypted by a key
rotation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import text

from runplane.core import credentials, inventory, pools
from runplane.core.context import Core
from runplane.core.credential_choice import credential_for
from runplane.core.instances import create as create_instance
from runplane.core.secret_key import read_key_file
from runplane.core.secret_rotation import rotate
from runplane.errors import Invalid, NotFound
from runplane.model import Instance
from runplane.store.database import database_file

pytestmark = pytest.mark.anyio

PASSWORD = "hunter2-plain-password"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nplain-private-key-material\n-----END"
ENABLE = "plain-enable-secret"
PLAIN = (PASSWORD, KEY, ENABLE)


@pytest.fixture
async def instance(core: Core) -> Instance:
    return await create_instance(core, None, {"name": "creds"})


async def _inventory(core: Core, instance: Instance) -> None:
    await inventory.save_devices(core, instance, [
        {"name": "r1", "vendor": "Cisco"}, {"name": "r2", "vendor": "Juniper"},
        {"name": "r3", "vendor": "Cisco"},
    ])
    await pools.save_pool(core, instance, {"name": "manual", "devices": ["r1"]})
    await pools.save_pool(core, instance, {"name": "cisco", "device_vendor": "Cisco",
                                           "device_vendor_match": "equality"})


async def _raw_rows(core: Core) -> str:
    """Every credential row as the database holds it, as text."""
    def read(conn: object) -> str:
        rows = conn.execute(text("SELECT * FROM credentials")).all()  # type: ignore[attr-defined]
        return repr([tuple(row) for row in rows])

    return await core.database.read(read)  # type: ignore[arg-type]


async def test_secrets_are_encrypted_and_kept_by_an_update_without_them(
        core: Core, instance: Instance) -> None:
    await _inventory(core, instance)
    saved = await credentials.save_credential(core, instance, {
        "name": "admin", "username": "cisco", "password": PASSWORD, "private_key": KEY,
        "enable_password": ENABLE, "priority": 5, "device_pools": ["manual"],
        "creator": "eNMS export field, ignored",
    })
    assert saved.pools == ["manual"] and saved.priority == 5 and saved.role == "read-write"
    assert all(token and token not in PLAIN for token in saved.tokens.values())
    assert PASSWORD not in repr(saved) and saved.tokens["password"] not in repr(saved)
    # eNMS: an empty secret in an update keeps the stored one.
    updated = await credentials.save_credential(core, instance, {
        "name": "admin", "password": "", "priority": 7, "device_pools": ["cisco", "manual"]})
    assert updated.priority == 7 and updated.pools == ["cisco", "manual"]
    secrets = credentials.reveal(core, updated)
    assert (secrets.username, secrets.password, secrets.private_key,
            secrets.enable_password) == ("cisco", PASSWORD, KEY, ENABLE)
    assert PASSWORD not in repr(secrets)


async def test_the_database_holds_no_plain_secret(core: Core, instance: Instance) -> None:
    await credentials.save_credentials(core, instance, [
        {"name": f"c{index}", "username": "u", "password": PASSWORD, "private_key": KEY,
         "enable_password": ENABLE, "subtype": "key"} for index in range(3)])
    rows = await _raw_rows(core)
    assert "c0" in rows and "gAAAAA" in rows  # the rows are there, as Fernet tokens
    assert not any(plain in rows for plain in PLAIN)
    path = database_file(core.settings.database)
    if path is not None:  # SQLite: the file and its write-ahead log, byte by byte
        await core.database.close()
        for name in (path, path + "-wal"):
            if os.path.exists(name):
                content = Path(name).read_bytes()
                assert not any(plain.encode() in content for plain in PLAIN), name
        key = read_key_file(path + ".secret-key")[0]
        assert key not in Path(path).read_bytes()
        assert os.stat(path + ".secret-key").st_mode & 0o777 == 0o600


async def test_refusals_name_the_field_and_never_the_secret(
        core: Core, instance: Instance) -> None:
    with pytest.raises(Invalid) as refused:
        await credentials.save_credential(core, instance, {
            "name": "x", "password": PASSWORD * 100, "subtype": "token", "pools": ["p"],
            "device_pools": ["no such pool"]})
    assert set(refused.value.fields) == {"password", "subtype", "pools"}
    assert PASSWORD not in str(refused.value.fields)
    with pytest.raises(Invalid) as unknown_pool:
        await credentials.save_credential(core, instance, {
            "name": "x", "password": PASSWORD, "device_pools": ["no such pool"]})
    assert unknown_pool.value.fields == {"device_pools": ["No pool with the name "
                                                          "'no such pool'."]}
    report = await credentials.save_credentials(core, instance, [
        {"name": "ok", "password": PASSWORD}, {"name": "bad", "priority": "high",
                                               "password": PASSWORD}])
    assert report.success == ["ok"] and [f.error for f in report.failure] == [
        "priority: Must be an integer."]


async def test_the_highest_priority_credential_whose_pools_hold_the_device(
        core: Core, instance: Instance) -> None:
    await _inventory(core, instance)
    await credentials.save_credentials(core, instance, [
        {"name": "low", "username": "low", "password": "a", "priority": 1,
         "device_pools": ["cisco"]},
        {"name": "high", "username": "high", "password": "b", "priority": 10,
         "device_pools": ["manual"]},
        {"name": "reader", "username": "reader", "password": "c", "priority": 20,
         "role": "read-only", "device_pools": ["cisco"]},
        {"name": "named", "username": "named", "password": "d", "priority": 0},
    ])
    chosen = await credential_for(core, instance, "r1")  # in both pools
    assert chosen.name == "reader"
    rw = await credential_for(core, instance, "r1", {"credential_type": "read-write"})
    assert rw.name == "high"
    assert (await credential_for(core, instance, "r3", {"credential_type": "read-write"})
            ).name == "low"  # in the filter pool only
    with pytest.raises(NotFound, match="No matching credentials found for DEVICE 'r2'"):
        await credential_for(core, instance, "r2")
    # A service naming one (eNMS's credentials: "object", named_credential) wins.
    service = {"credentials": "object", "named_credential": "named"}
    assert (await credential_for(core, instance, "r2", service)).name == "named"
    # So does a device naming one, when the service does not.
    await inventory.save_device(core, instance, {"name": "r2", "named_credential": "named"})
    assert (await credential_for(core, instance, "r2")).name == "named"
    # A filter pool is read as of now: r3 leaves it, and no credential serves it.
    await inventory.save_device(core, instance, {"name": "r3", "vendor": "Arista"})
    with pytest.raises(NotFound):
        await credential_for(core, instance, "r3")


async def test_a_deleted_pool_or_credential_leaves_the_choice(
        core: Core, instance: Instance) -> None:
    await _inventory(core, instance)
    await credentials.save_credential(core, instance, {
        "name": "c", "password": "x", "device_pools": ["manual", "cisco"]})
    await pools.delete_pool(core, instance, "manual")
    assert (await credentials.get_credential(core, instance, "c")).pools == ["cisco"]
    gone = await credentials.delete_credential(core, instance, "c")
    assert gone.name == "c"
    with pytest.raises(NotFound):
        await credential_for(core, instance, "r1")
    with pytest.raises(NotFound):
        await credentials.get_credential(core, instance, "c")


async def test_rotation_re_encrypts_every_secret_and_drops_the_old_key(
        core: Core, instance: Instance) -> None:
    await credentials.save_credential(core, instance, {
        "name": "c", "username": "u", "password": PASSWORD, "enable_password": ENABLE})
    before = await credentials.get_credential(core, instance, "c")
    path = core.secrets.path
    assert path is not None
    old_key = read_key_file(path)
    report = await rotate(core)
    assert report.reencrypted == 1 and report.key_file == path
    new_key = read_key_file(path)
    assert len(new_key) == 1 and new_key != old_key
    assert os.stat(path).st_mode & 0o777 == 0o600
    after = await credentials.get_credential(core, instance, "c")
    assert after.tokens["password"] != before.tokens["password"]
    assert after.tokens["private_key"] == ""
    # This process read the new file; the old key reads nothing any more.
    assert credentials.reveal(core, after).password == PASSWORD
    with pytest.raises(InvalidToken):
        Fernet(old_key[0]).decrypt(after.tokens["password"].encode())
    assert (await rotate(core)).reencrypted == 1  # a second rotation, a second new key
