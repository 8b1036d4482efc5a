"""Runs are confined by default (Landlock, no new privileges, no capabilities): a script
reaches its own run directory and the system, and no secret of the server or another run."""

from __future__ import annotations

import ast
import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from runplane.engine import confine, confinement
from runplane.engine.confinement import ConfinementUnavailable, decide
from runplane.engine.execution import ExecutionResult
from tests.unit.executor_harness import (
    WRITES_ITS_PID,
    Harness,
    harness,
    make_executor,
    request,
    wait_for_run_file,
    work_root,
)

__all__ = ["harness", "work_root"]  # fixtures

if confine.abi_version() < 1 and os.environ.get("CI") != "true":
    pytest.skip("this kernel has no Landlock", allow_module_level=True)

TRIES_TO_READ = "import sys\ntry:\n    print(open(ARGS).read())\nexcept OSError as exc:\n" \
                "    print(type(exc).__name__)\n"


@pytest.fixture
def secret(tmp_path: Path) -> Iterator[Path]:
    """A file of the server's user outside the run, like the database or a key file."""
    path = tmp_path / "runplane.db"
    path.write_text("the key-hash secret")
    yield path


def test_a_run_cannot_read_the_servers_files(harness: Harness, secret: Path) -> None:
    assert harness.run(TRIES_TO_READ, args=str(secret)).stdout == "PermissionError\n"
    shell = harness.run(f"cat {secret} || echo refused", runtime="shell")
    assert "the key-hash secret" not in shell.stdout and "refused" in shell.stdout


def test_unconfined_the_same_script_reads_it(work_root: Path, secret: Path) -> None:
    with Harness(make_executor("fork", work_root, confine="off")) as unconfined:
        assert unconfined.run(TRIES_TO_READ, args=str(secret)).stdout.strip() == \
            "the key-hash secret"


def test_a_run_keeps_its_own_directory_and_the_system(harness: Harness) -> None:
    source = (
        "import decimal, json, os, subprocess\n"
        "open('mine.txt', 'w').write('kept')\n"
        "print(open('mine.txt').read(), open('/etc/hostname').read().strip() != '',\n"
        "      subprocess.run(['cat', 'mine.txt'], capture_output=True).stdout.decode())\n"
    )
    result = harness.run(source)
    assert result.outcome == "success", result.stderr
    assert result.stdout == "kept True kept\n"


def test_a_run_cannot_reach_another_runs_directory(harness: Harness, work_root: Path) -> None:
    peeks = (
        "import glob, os\n"
        "mine = os.environ['RUNPLANE_RUN_DIR']\n"
        "others = [path for path in glob.glob(os.path.join(os.path.dirname(mine), '*'))\n"
        "          if path != mine]\n"
        "print(len(others))\n"
        "for path in [os.path.join(ARGS, 'pid')]:\n"
        "    try:\n"
        "        print(open(path).read())\n"
        "    except OSError as exc:\n"
        "        print(type(exc).__name__)\n"
    )

    async def scenario() -> ExecutionResult:
        sleeper = asyncio.create_task(harness.executor.execute(request(WRITES_ITS_PID,
                                                                       args="pid")))
        await wait_for_run_file(work_root, "pid")
        other = next(work_root.glob("runplane-run-*/pid")).parent
        peek = await harness.executor.execute(request(peeks, args=str(other)))
        sleeper.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sleeper
        return peek

    result = harness.call(scenario())
    assert result.stdout.split() == ["0", "PermissionError"], result.stderr


def test_a_run_cannot_signal_or_inspect_the_server(harness: Harness) -> None:
    source = (
        f"import os\nserver = {os.getpid()}\n"
        "for attempt in (lambda: os.kill(server, 0),\n"
        "                lambda: open(f'/proc/{server}/environ').read(),\n"
        "                lambda: os.readlink(f'/proc/{server}/fd/0'),\n"
        "                lambda: open(f'/proc/{server}/mem', 'rb')):\n"
        "    try:\n"
        "        attempt()\n"
        "        print('reached')\n"
        "    except OSError as exc:\n"
        "        print(type(exc).__name__)\n"
        "status = open('/proc/self/status').read()\n"
        "print([line.split()[1] for line in status.splitlines()\n"
        "       if line.startswith(('NoNewPrivs', 'CapEff', 'CapBnd'))])\n"
    )
    result = harness.run(source)
    lines = result.stdout.splitlines()
    assert lines[:4] == ["PermissionError"] * 4, result.stdout + result.stderr
    effective, bounding, no_new_privs = ast.literal_eval(lines[4])
    assert (effective, no_new_privs) == ("0000000000000000", "1")
    if os.geteuid() == 0:  # root keeps its uid but none of its capabilities
        assert bounding == "0000000000000000"


def test_a_run_cannot_reach_the_machines_local_daemons(harness: Harness) -> None:
    # PostgreSQL's socket by peer authentication (as the server's user), docker.sock, systemd.
    source = (
        "import socket\n"
        "for attempt in (lambda: socket.socket(socket.AF_UNIX),\n"
        "                lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)):\n"
        "    try:\n"
        "        attempt().close()\n"
        "        print('reached')\n"
        "    except OSError as exc:\n"
        "        print(type(exc).__name__)\n"
        "left, right = socket.socketpair()\n"  # a private pair stays possible
        "left.sendall(b'pair')\n"
        "print(right.recv(4).decode())\n"
    )
    result = harness.run(source)
    assert result.stdout.split() == ["PermissionError", "PermissionError", "pair"], result.stderr


def test_the_executor_says_how_runs_are_isolated(harness: Harness) -> None:
    described = harness.executor.isolation()["confinement"]
    assert described["landlock"] is True and described["abi"] >= 1
    assert described["unix_sockets"] == "refused"
    assert described["exposed"] == []


def test_a_protected_path_under_a_readable_root_is_reported() -> None:
    decided = asyncio.run(decide("auto", "/usr/bin/python3", extra_read="/var/lib",
                                 protected=("/var/lib/runplane/runplane.db",)))
    assert decided.active
    assert decided.exposed == ("/var/lib/runplane/runplane.db (under /var/lib, which scripts "
                               "may read)",)


def test_without_landlock_auto_warns_and_required_refuses(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(confinement.confine, "abi_version", lambda: 0)
    decided = asyncio.run(decide("auto", "/usr/bin/python3"))
    assert not decided.active and decided.policy("/tmp/x") is None
    assert "no Landlock" in decided.describe()["reason"]
    with pytest.raises(ConfinementUnavailable):
        asyncio.run(decide("required", "/usr/bin/python3"))
