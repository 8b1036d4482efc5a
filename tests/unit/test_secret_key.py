"""Where the credentials' key comes from (setting, key file made 0600, memory), that a bad
key is refused without being repeated, that a key file's change reaches a running process,
and eNMS's choice among the credentials that serve a device."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from runplane.core.credential_choice import highest_priority, named_by
from runplane.core.secret_key import SecretBox, key_file_path, read_key_file, write_key_file
from runplane.engine import confine
from runplane.engine.subprocess_executor import SubprocessExecutor
from runplane.errors import SecretsUnavailable
from runplane.model import Credential
from runplane.settings import Settings


def test_a_key_file_is_made_next_to_the_sqlite_database_mode_0600(tmp_path: Path) -> None:
    settings = Settings(database=f"sqlite:///{tmp_path}/runplane.db")
    box = SecretBox(settings)
    assert box.path == key_file_path(settings) == f"{tmp_path}/runplane.db.secret-key"
    token = box.encrypt("s3cret")
    assert token != "s3cret" and box.decrypt(token) == "s3cret"
    assert os.stat(box.path).st_mode & 0o777 == 0o600
    assert [path.name for path in tmp_path.iterdir()] == ["runplane.db.secret-key"]
    # Another process (a worker) on the same database reads the same key.
    assert SecretBox(settings).decrypt(token) == "s3cret"


def test_the_setting_wins_and_no_file_is_made(tmp_path: Path) -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    token = Fernet(old).encrypt(b"x").decode()
    box = SecretBox(Settings(database=f"sqlite:///{tmp_path}/r.db",
                             secret_key=SecretStr(f"{new.decode()},{old.decode()}")))
    assert box.path is None and box.decrypt(token) == "x"  # an old key still reads
    assert Fernet(new).decrypt(box.encrypt("y").encode()) == b"y"  # the first encrypts
    assert list(tmp_path.iterdir()) == []


def test_a_bad_key_is_refused_without_being_repeated(tmp_path: Path) -> None:
    box = SecretBox(Settings(database="sqlite://", secret_key=SecretStr("not-a-key-123")))
    with pytest.raises(SecretsUnavailable) as refused:
        box.encrypt("x")
    assert "not-a-key-123" not in refused.value.message
    assert "not-a-key-123" not in repr(box.settings)


def test_postgresql_needs_a_key_and_memory_gets_one() -> None:
    with pytest.raises(SecretsUnavailable, match="RUNPLANE_SECRET_KEY"):
        SecretBox(Settings(database="postgresql://postgres@127.0.0.1/test")).encrypt("x")
    box = SecretBox(Settings(database="sqlite://"))
    assert box.path is None and box.decrypt(box.encrypt("x")) == "x"


def test_a_changed_key_file_is_read_again(tmp_path: Path) -> None:
    """How `runplane secrets rotate` reaches a running server."""
    path = str(tmp_path / "key")
    box = SecretBox(Settings(database="sqlite://", secret_key_file=path))
    old_token = box.encrypt("x")
    old = read_key_file(path)
    new = Fernet.generate_key()
    write_key_file(path, [new, *old])
    token = box.encrypt("y")
    assert Fernet(new).decrypt(token.encode()) == b"y" and box.decrypt(old_token) == "x"
    write_key_file(path, [new])
    with pytest.raises(SecretsUnavailable, match="cannot be decrypted"):
        box.decrypt(old_token)
    assert not write_key_file(path, [Fernet.generate_key()], exclusive=True)
    assert read_key_file(path) == [new]


def _credential(name: str, priority: int, role: str = "read-write") -> Credential:
    now = datetime.now(UTC)
    return Credential(id=1, instance_id=1, name=name, description="", role=role,
                      subtype="password", username="u", priority=priority, pools=[],
                      created_at=now, updated_at=now, tokens={"password": "token"})


def test_the_highest_priority_of_the_role_wins_ties_by_name() -> None:
    found = [_credential("b", 5), _credential("a", 5), _credential("ro", 9, "read-only")]
    assert highest_priority(found).name == "ro"  # type: ignore[union-attr]
    assert highest_priority(found, "read-write").name == "a"  # type: ignore[union-attr]
    assert highest_priority([], "any") is None
    assert "token" not in repr(found[0])


def test_a_service_naming_a_credential_wins_over_the_device() -> None:
    device = {"named_credential": "dev"}
    assert named_by({"credentials": "object", "named_credential": "svc"}, device) == "svc"
    assert named_by({"credentials": "device", "named_credential": "svc"}, device) == "dev"
    assert named_by(None, {}) is None


@pytest.mark.skipif(confine.abi_version() < 1, reason="this kernel has no Landlock")
def test_a_readable_key_file_is_reported_exposed(tmp_path: Path) -> None:
    settings = Settings(database=f"sqlite:///{tmp_path}/r.db", confine="auto",
                        confine_read="/var/lib", secret_key_file="/var/lib/runplane/secret.key")
    executor = SubprocessExecutor.from_settings(settings, work_root=str(tmp_path / "runs"))

    async def started() -> list[str]:
        await executor.start()
        try:
            return list(executor.isolation()["confinement"]["exposed"])
        finally:
            await executor.close()

    exposed = asyncio.run(started())
    assert exposed == ["/var/lib/runplane/secret.key (under /var/lib, which scripts may read)"]
