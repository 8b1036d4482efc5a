"""Where run directories go (in memory by default) and how they are removed."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from runplane.engine import rundir, zygote
from runplane.engine.rundir import Janitor, WorkRoot, choose_work_root, filesystem_type


def test_filesystem_type_is_read_from_the_mount_table(tmp_path: Path) -> None:
    assert filesystem_type("/proc/self") == "proc"
    assert filesystem_type("/proc/no/such/path") == "proc"  # where it would be made
    assert filesystem_type(str(tmp_path)) == filesystem_type(str(tmp_path.parent))


def test_a_configured_root_is_used_as_it_is(tmp_path: Path) -> None:
    chosen = choose_work_root(str(tmp_path / "runs"))
    assert chosen.path == str(tmp_path / "runs")
    assert chosen.in_memory == (filesystem_type(str(tmp_path)) in rundir.MEMORY_FILESYSTEMS)


@pytest.mark.parametrize(("temp_fs", "shm_fs", "shm_free", "expected"), [
    ("tmpfs", "tmpfs", 8 << 30, ("temp", True)),  # a /tmp in memory is used as it is
    ("ext4", "tmpfs", 8 << 30, ("shm", True)),
    ("ext4", "tmpfs", 64 << 20, ("temp", False)),  # a container's small /dev/shm
    ("ext4", "ext4", 8 << 30, ("temp", False)),
    ("xfs", None, 0, ("temp", False)),
])
def test_the_default_root_is_in_memory_where_there_is_room(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, temp_fs: str, shm_fs: str | None,
    shm_free: int, expected: tuple[str, bool],
) -> None:
    temp, shm = tmp_path / "temp", tmp_path / "shm"
    temp.mkdir()
    shm.mkdir()
    types = {str(temp): temp_fs, str(shm): shm_fs}
    monkeypatch.setattr(rundir.tempfile, "gettempdir", lambda: str(temp))
    monkeypatch.setattr(rundir, "SHARED_MEMORY", str(shm))
    monkeypatch.setattr(rundir, "filesystem_type", types.get)
    monkeypatch.setattr(rundir, "_free_bytes", lambda path: shm_free if path == str(shm) else 0)
    where, in_memory = expected
    assert choose_work_root(None) == WorkRoot(str(temp if where == "temp" else shm), in_memory)


def test_in_memory_an_empty_run_dir_is_removed_at_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        janitor = Janitor(in_memory=True)
        empty = rundir.make_workdir(str(tmp_path))
        janitor.discard(empty)
        assert not os.path.exists(empty)  # before any await: no thread involved
        full = rundir.make_workdir(str(tmp_path))
        Path(full, "left").write_text("by the script")
        janitor.discard(full)  # not empty: the careful removal, in a thread
        await janitor.drain()
        assert not os.path.exists(full)

    asyncio.run(scenario())


def test_on_disk_removal_waits_for_no_disk(tmp_path: Path) -> None:
    async def scenario() -> None:
        janitor = Janitor(in_memory=False)
        empty = rundir.make_workdir(str(tmp_path))
        janitor.discard(empty)
        await janitor.drain()
        assert not os.path.exists(empty)

    asyncio.run(scenario())


def test_the_zygote_s_rehearsal_leaves_its_process_as_it_was() -> None:
    """The zygote goes through a run's steps itself before forking (to warm their code): its
    environment, __main__ and argv must come out of it unchanged."""
    environment, main, argv = dict(os.environ), sys.modules["__main__"], list(sys.argv)
    zygote._rehearse(zygote._load_sibling("python_child"))
    assert dict(os.environ) == environment
    assert sys.modules["__main__"] is main
    assert sys.argv == argv


def test_a_run_dir_root_that_is_missing_is_made_private(tmp_path: Path) -> None:
    root = tmp_path / "not" / "there"
    made = Path(rundir.make_workdir(str(root)))
    assert made.parent == root and made.is_dir()
    assert (root.stat().st_mode & 0o777, made.stat().st_mode & 0o777) == (0o700, 0o700)
