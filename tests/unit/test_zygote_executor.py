"""Faults a script can commit, contained by both executors; the zygote's own life and death.

After each fault: the next run answers normally, no process of the run remains (a zombie
waiting for init counts as gone), no run directory remains, and this process has no zombie
children. The fault cases run against both executors (`harness` is parametrized).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runplane.engine.execution import ExecutionResult
from runplane.engine.subprocess_executor import SubprocessExecutor
from runplane.engine.zygote_client import ZygoteUnavailable
from runplane.engine.zygote_executor import ZYGOTE_DIED, ZygoteExecutor
from runplane.settings import Settings
from tests.unit.executor_harness import (
    MIB,
    WRITES_ITS_PID,
    Harness,
    children,
    gone,
    harness,
    is_dead,
    no_run_dirs,
    open_fds,
    request,
    wait_dead,
    wait_for_run_file,
    work_root,
)

__all__ = ["harness", "work_root"]  # fixtures, imported for pytest


def assert_contained(harness: Harness, work_root: Path, *pids: int) -> None:
    """The aftermath of a fault: next run fine, nothing left running, nothing left on disk."""
    zygote = harness.zygote_pid
    assert harness.run("print('next')").stdout == "next\n"
    for pid in pids:
        assert wait_dead(pid), f"process {pid} outlived its run"
    assert no_run_dirs(work_root)
    assert "Z" not in children(os.getpid()).values()
    assert harness.zygote_pid == zygote  # no fault of a script restarts the fork server


def printed_pids(result: ExecutionResult) -> list[int]:
    return [int(word) for word in result.stdout.split() if word.isdigit()]


# --- the faults of the issue ---------------------------------------------------------------


def test_loops_forever(harness: Harness, work_root: Path) -> None:
    source = "import os\nprint(os.getpid(), flush=True)\nwhile True:\n    pass\n"
    started = time.monotonic()
    result = harness.run(source, timeout_seconds=0.5)
    assert result.outcome == "timeout"
    assert result.error == "Script timed out after 0.5 s."
    assert time.monotonic() - started < 5.0
    assert_contained(harness, work_root, *printed_pids(result))


def test_forks_a_child_that_outlives_it(harness: Harness, work_root: Path) -> None:
    source = (
        "import os, subprocess, time\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    time.sleep(60)\n"
        "    os._exit(0)\n"
        "sleeper = subprocess.Popen(['sleep', '60'])\n"
        "print(pid, sleeper.pid, flush=True)\n"
    )
    started = time.monotonic()
    result = harness.run(source)
    assert result.outcome == "success"
    # Both held the output pipes: returning before the pipe grace (2 s) says they were
    # killed; assert_contained checks that they are dead.
    assert time.monotonic() - started < 5.0
    assert len(printed_pids(result)) == 2
    assert_contained(harness, work_root, *printed_pids(result))


def test_ignores_sigterm(harness: Harness, work_root: Path) -> None:
    source = (
        "import os, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print(os.getpid(), flush=True)\n"
        "while True:\n    time.sleep(0.01)\n"
    )
    result = harness.run(source, timeout_seconds=0.5)
    assert result.outcome == "timeout"
    assert_contained(harness, work_root, *printed_pids(result))


def test_allocates_without_bound(harness: Harness, work_root: Path) -> None:
    source = "chunks = []\nwhile True:\n    chunks.append(bytearray(10 * 1024 * 1024))\n"
    result = harness.run(source, memory_bytes=128 * MIB)
    assert (result.outcome, result.exit_code) == ("failure", 1)
    assert result.error == "Script exceeded its memory limit (128 MB)."
    assert_contained(harness, work_root)


def test_writes_100_megabytes_to_stdout(harness: Harness, work_root: Path) -> None:
    source = (
        "import sys\n"
        "block = b'x' * (1024 * 1024)\n"
        "for _ in range(100):\n    sys.stdout.buffer.write(block)\n"
        "print('done', file=sys.stderr)\n"
    )
    started = time.monotonic()
    result = harness.run(source, output_bytes=64 * 1024)
    assert result.outcome == "success"
    assert result.truncated
    assert len(result.stdout) == 64 * 1024
    assert result.details["dropped_bytes"] == 100 * MIB + len("done\n") - 64 * 1024
    assert time.monotonic() - started < 10.0  # drained as it came, never blocked
    assert_contained(harness, work_root)


def test_writes_invalid_utf8(harness: Harness, work_root: Path) -> None:
    source = (
        "import sys\n"
        "sys.stdout.buffer.write(b'a\\xff\\xc3')\n"  # a stray byte and a cut sequence
        "sys.stderr.buffer.write(b'\\xed\\xa0\\x80 surrogate')\n"
    )
    result = harness.run(source)
    assert result.outcome == "success"
    assert result.stdout == "a\ufffd\ufffd"
    assert result.stderr.endswith(" surrogate")
    assert_contained(harness, work_root)


def test_closes_its_stdout_early(harness: Harness, work_root: Path) -> None:
    source = (
        "import os, sys, time\n"
        "print('before', flush=True)\n"
        "os.close(1)\n"
        "time.sleep(0.2)\n"
        "print('still running', file=sys.stderr)\n"
    )
    result = harness.run(source)
    assert (result.outcome, result.exit_code) == ("success", 0)
    assert result.stdout == "before\n"
    assert result.stderr == "still running\n"
    assert_contained(harness, work_root)


def test_closes_both_outputs_and_keeps_running(harness: Harness, work_root: Path) -> None:
    source = "import os, time\nos.close(1)\nos.close(2)\ntime.sleep(0.3)\n"
    result = harness.run(source)
    assert result.outcome == "success"
    assert result.duration_ms >= 300  # EOF on the pipes is not the end of the run
    assert_contained(harness, work_root)


def test_calls_os_exit_before_returning(harness: Harness, work_root: Path) -> None:
    source = "import os\nprint('kept', flush=True)\nprint('lost in the buffer')\nos._exit(0)\n"
    result = harness.run(source)
    assert (result.outcome, result.exit_code) == ("success", 0)
    assert result.stdout == "kept\n"
    assert_contained(harness, work_root)


def test_kills_its_own_process_group(harness: Harness, work_root: Path) -> None:
    source = (
        "import os, signal, subprocess\n"
        "sleeper = subprocess.Popen(['sleep', '60'])\n"
        "print(sleeper.pid, flush=True)\n"
        "os.killpg(0, signal.SIGKILL)\n"
    )
    result = harness.run(source)
    assert result.outcome == "failure"
    assert result.error == "Script was killed by signal SIGKILL."
    assert_contained(harness, work_root, *printed_pids(result))


def test_fills_its_temporary_directory(harness: Harness, work_root: Path) -> None:
    source = (
        "for n in range(500):\n"
        "    open(f'small-{n}', 'w').write('x' * 100)\n"
        "with open('big', 'wb') as big:\n"
        "    while True:\n"
        "        big.write(b'x' * 65536)\n"
    )
    result = harness.run(source, file_size_bytes=MIB)
    assert (result.outcome, result.exit_code) == ("failure", 1)
    assert "File too large" in result.stderr  # RLIMIT_FSIZE; Python ignores SIGXFSZ
    assert_contained(harness, work_root)


def test_setsid_escape(harness: Harness, work_root: Path) -> None:
    """Leaving the run's session escapes a group kill. The zygote, a subreaper, still kills
    such a process when its run ends; the spawn executor cannot (without bwrap)."""
    source = (
        "import subprocess\n"
        "escaped = subprocess.Popen(['sleep', '60'], start_new_session=True,\n"
        "                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "print(escaped.pid)\n"
    )
    result = harness.run(source)
    assert result.outcome == "success"
    (pid,) = printed_pids(result)
    if harness.zygote_pid is None:
        assert not wait_dead(pid, within=0.3), "the spawn executor contained it after all?"
        os.kill(pid, signal.SIGKILL)
    assert_contained(harness, work_root, pid)


# --- the fork server -----------------------------------------------------------------------


@pytest.fixture
def forking(work_root: Path) -> Iterator[Harness]:
    with Harness(ZygoteExecutor(Settings(), work_root=str(work_root))) as started:
        yield started


def test_zygote_death_fails_the_runs_in_flight_and_restarts(
    forking: Harness, work_root: Path
) -> None:
    first = forking.zygote_pid
    assert first is not None

    async def scenario() -> tuple[list[ExecutionResult], list[int]]:
        runs = [asyncio.create_task(forking.executor.execute(request(WRITES_ITS_PID,
                                                                     args=f"pid-{n}")))
                for n in range(3)]
        pids = [int(await wait_for_run_file(work_root, f"pid-{n}")) for n in range(3)]
        os.kill(first, signal.SIGKILL)
        return await asyncio.wait_for(asyncio.gather(*runs), 5.0), pids

    results, pids = forking.call(scenario())
    for result in results:
        assert (result.outcome, result.exit_code) == ("failure", None)
        assert result.error == ZYGOTE_DIED
    for pid in pids:
        assert wait_dead(pid)
    assert forking.run("print('after')").stdout == "after\n"
    assert forking.zygote_pid not in (None, first)
    assert wait_dead(first)
    assert no_run_dirs(work_root)


KILLS_ITS_PARENT = "import os, signal, time\nos.kill(os.getppid(), signal.SIGKILL)\ntime.sleep(60)"


def test_a_confined_script_cannot_signal_the_zygote(forking: Harness) -> None:
    first = forking.zygote_pid
    result = forking.run(KILLS_ITS_PARENT)
    assert result.outcome == "failure"
    assert "PermissionError" in result.stderr
    assert forking.zygote_pid == first


def test_script_that_kills_the_zygote(work_root: Path) -> None:
    # Unconfined (RUNPLANE_CONFINE=off, or a kernel without Landlock), a script can.
    with Harness(ZygoteExecutor(Settings(confine="off"), work_root=str(work_root))) as forking:
        first = forking.zygote_pid
        result = forking.run(KILLS_ITS_PARENT)
        assert result.error == ZYGOTE_DIED
        assert forking.run("print('after')").stdout == "after\n"
        assert forking.zygote_pid != first


def test_zygote_killed_between_runs(forking: Harness) -> None:
    first = forking.zygote_pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    assert wait_dead(first)
    assert forking.run("print('after')").stdout == "after\n"


def test_many_runs_leak_no_descriptor_process_or_directory(
    forking: Harness, work_root: Path
) -> None:
    forking.run("print('warm')")
    fds = open_fds()
    for n in range(200):
        result = forking.run(f"print({n})", mode="snippet" if n % 2 else "script")
        assert result.stdout == f"{n}\n"
    # A pipe transport closed by the last run closes its descriptor on the loop's next turn.
    forking.call(asyncio.sleep(0.01))
    assert open_fds() == fds
    ours = children(os.getpid())
    assert list(ours) == [forking.zygote_pid]  # no zombie, nothing but the zygote
    assert ours[forking.zygote_pid] != "Z"
    # At most the spare, forked ahead for the next run (at once or in a moment).
    assert len(children(forking.zygote_pid or 0)) <= 1
    assert no_run_dirs(work_root)


def test_zygote_is_a_small_separate_interpreter(forking: Harness) -> None:
    pid = forking.zygote_pid
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert cmdline[1:4] == [b"-I", b"-X", b"utf8"]
    assert cmdline[4].endswith(b"zygote.py")
    assert os.getsid(pid or 0) == pid  # its own session: no terminal signals from ours


def test_zygote_that_cannot_start(work_root: Path) -> None:
    executor = ZygoteExecutor(Settings(), python="/nonexistent/python", work_root=str(work_root))
    with pytest.raises(ZygoteUnavailable):
        asyncio.run(executor.start())
    result = asyncio.run(executor.execute(request("print(1)")))
    assert (result.outcome, result.exit_code) == ("failure", None)
    assert (result.error or "").startswith("Could not start the fork server")
    assert no_run_dirs(work_root)


def test_shell_goes_through_the_spawn_path(forking: Harness) -> None:
    result = forking.run("echo $$; cut -d' ' -f6 /proc/$$/stat", runtime="shell")
    pid, sid = result.stdout.split()
    assert pid == sid  # its own session, from start_new_session
    assert is_dead(int(pid))


def test_under_uvloop(work_root: Path, tmp_path: Path) -> None:
    """The server runs on uvloop: pipes, the report socket and restarts work there too."""
    uvloop = pytest.importorskip("uvloop")
    executor = ZygoteExecutor(Settings(), work_root=str(work_root))
    with Harness(executor, loop_factory=uvloop.new_event_loop) as harness:
        assert harness.run("print('hi')").stdout == "hi\n"
        snippet = harness.run("results['ok'] = 1", mode="snippet", context={})
        assert snippet.value["results"] == {"ok": 1}
        assert harness.run("while True:\n    pass", timeout_seconds=0.3).outcome == "timeout"
        assert harness.run("echo sh", runtime="shell").stdout == "sh\n"
        first = harness.zygote_pid
        assert first is not None

        async def zygote_killed_under_a_run() -> ExecutionResult:
            run = asyncio.create_task(executor.execute(request(WRITES_ITS_PID, args="pid")))
            await wait_for_run_file(work_root, "pid")
            os.kill(first, signal.SIGKILL)
            return await run

        assert harness.call(zygote_killed_under_a_run()).error == ZYGOTE_DIED
        assert harness.run("print('after')").stdout == "after\n"
        assert harness.zygote_pid != first
    assert no_run_dirs(work_root)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching uid needs root")
def test_run_as_under_uvloop() -> None:
    """uvloop refuses subprocess's user=/group=: the spawn path drops privileges by setpriv."""
    uvloop = pytest.importorskip("uvloop")
    settings = Settings(run_as_uid=65534, run_as_gid=65534)
    # Not under pytest's tmp_path: its parents are closed to other users.
    with tempfile.TemporaryDirectory() as root:
        os.chmod(root, 0o711)
        for executor in (ZygoteExecutor(settings, work_root=root),
                         SubprocessExecutor.from_settings(settings, work_root=root)):
            with Harness(executor, loop_factory=uvloop.new_event_loop) as harness:
                result = harness.run("echo $(id -u) $(id -g) $(id -G)", runtime="shell")
                assert result.stdout == "65534 65534 65534\n", result
                python = harness.run("import os\nprint(os.getuid())")
                assert python.stdout == "65534\n" or "Permission denied" in python.stderr


_KILLED_WORKER = """
import asyncio, os, signal, sys
from runplane.engine.zygote_executor import ZygoteExecutor
from runplane.settings import Settings

async def main() -> None:
    executor = ZygoteExecutor(Settings(), work_root=sys.argv[1])
    await executor.start()
    zygote = executor.zygote_pid
    await asyncio.sleep(float(sys.argv[2]))
    spares = open(f"/proc/{zygote}/task/{zygote}/children").read().split()
    print(zygote, *spares, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


@pytest.mark.parametrize("after", [0.0, 0.05])
def test_worker_killed_outright_leaves_no_zygote(work_root: Path, after: float) -> None:
    """EOF on its orders kills the zygote's children, a spare still starting up included."""
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", _KILLED_WORKER, str(work_root), str(after)],
                              capture_output=True, text=True, timeout=30)
        pids = [int(pid) for pid in done.stdout.split()]
        assert pids, done.stderr
        for pid in pids:
            assert wait_dead(pid, within=5.0), f"{pid} outlived its worker"


def test_run_dirs_of_dead_processes_are_swept_at_start(work_root: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    left = work_root / f"runplane-run-{dead.stdout.strip()}-abc123"
    (left / "sub").mkdir(parents=True)
    (left / "sub" / "file").write_text("x")
    alive = work_root / f"runplane-run-{os.getpid()}-def456"  # ours: in use, kept
    alive.mkdir()
    other = work_root / "unrelated"
    other.mkdir()
    with Harness(ZygoteExecutor(Settings(), work_root=str(work_root))) as harness:
        assert harness.run("print(1)").stdout == "1\n"
        assert gone(left)
    assert alive.exists()
    assert other.exists()
