"""The executor contract, end to end with real processes, limits and signals.

Every case runs against both executors: spawn (SubprocessExecutor, a new interpreter per run)
and fork (ZygoteExecutor, forked from a warm zygote), through the parametrized `harness`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runplane.engine import sandbox
from runplane.engine.execution import ExecutionResult
from runplane.engine.rundir import base_env
from runplane.engine.subprocess_executor import SubprocessExecutor
from runplane.engine.zygote import STATUS_FD
from tests.unit.executor_harness import (
    WRITES_ITS_PID,
    Harness,
    gone,
    harness,
    is_dead,
    make_executor,
    no_run_dirs,
    request,
    wait_dead,
    wait_for_run_file,
    work_root,
)

__all__ = ["harness", "work_root"]  # fixtures, imported for pytest

MIB = 1024 * 1024
Run = Callable[..., ExecutionResult]


@pytest.fixture
def run(harness: Harness) -> Run:
    """Execute one script and wait; keyword arguments go to `request`."""
    return harness.run


# --- python3 -------------------------------------------------------------------------------


def test_hello_world(run: Run) -> None:
    result = run("print('hello world')")
    assert result.outcome == "success"
    assert result.exit_code == 0
    assert result.stdout == "hello world\n"
    assert result.stderr == ""
    assert result.error is None
    assert not result.truncated
    assert result.started_at.tzinfo is not None
    assert result.finished_at >= result.started_at
    assert isinstance(result.duration_ms, int)
    assert result.duration_ms >= 0


def test_args_config_meta_are_globals(run: Run) -> None:
    result = run(
        "import json\nprint(json.dumps([__name__, ARGS, CONFIG, META]))",
        args={"n": 1, "s": "é"},
        config={"key": "value"},
        meta={"executed_by": "api"},
    )
    assert result.outcome == "success"
    assert json.loads(result.stdout) == [
        "__main__", {"n": 1, "s": "é"}, {"key": "value"}, {"executed_by": "api"},
    ]


def test_script_sees_empty_stdin_and_scrubbed_env(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNPLANE_TEST_SECRET", "leak")
    result = run(
        "import json, os, subprocess, sys\n"
        "inherited = subprocess.run(['env', '-0'], capture_output=True, text=True).stdout\n"
        "print(json.dumps([sys.stdin.read(), dict(os.environ), inherited]))"
    )
    stdin, env, inherited = json.loads(result.stdout)
    assert stdin == ""
    assert sorted(env) == sorted(base_env("/any"))  # the run's variables, nothing else
    # What the script starts gets the same environment (the C one, not just os.environ).
    assert dict(line.split("=", 1) for line in inherited.split("\0") if line) == env
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert env["HOME"] == env["TMPDIR"] == env["RUNPLANE_RUN_DIR"]
    assert env["LC_ALL"] == "C.UTF-8"


def test_exit_code_is_kept(run: Run) -> None:
    result = run("import sys\nprint('before')\nsys.exit(3)")
    assert result.outcome == "failure"
    assert result.exit_code == 3
    assert result.stdout == "before\n"
    assert result.error is None


def test_exit_with_message(run: Run) -> None:
    result = run("import sys\nsys.exit('giving up')")
    assert (result.outcome, result.exit_code) == ("failure", 1)
    assert result.stderr == "giving up\n"


def test_exception_shows_only_script_frames(run: Run) -> None:
    result = run("def inner():\n    raise ValueError('boom')\n\ninner()\n")
    assert result.outcome == "failure"
    assert result.exit_code == 1
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert 'File "<script>", line 4, in <module>' in result.stderr
    assert 'File "<script>", line 2, in inner' in result.stderr
    assert "raise ValueError('boom')" in result.stderr  # source lines are shown too
    assert result.stderr.rstrip().endswith("ValueError: boom")
    assert "python_child" not in result.stderr


def test_syntax_error(run: Run) -> None:
    result = run("def broken(:\n")
    assert (result.outcome, result.exit_code) == ("failure", 1)
    assert "SyntaxError" in result.stderr
    assert "python_child" not in result.stderr


def test_abort_names_the_signal(run: Run) -> None:
    result = run("import os\nos.abort()")
    assert result.outcome == "failure"
    assert result.exit_code is None
    assert result.error == "Script was killed by signal SIGABRT."


def test_infinite_loop_times_out(run: Run) -> None:
    started = time.monotonic()
    result = run("while True:\n    pass", timeout_seconds=1.0)
    elapsed = time.monotonic() - started
    assert result.outcome == "timeout"
    assert result.exit_code is None
    assert result.error == "Script timed out after 1 s."
    assert 900 <= result.duration_ms < 5000
    assert elapsed < 3.0


def test_sigterm_ignoring_script_is_killed(run: Run) -> None:
    source = (
        "import os, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print(os.getpid(), flush=True)\n"
        "while True:\n    time.sleep(0.01)\n"
    )
    result = run(source, timeout_seconds=0.5)
    assert result.outcome == "timeout"
    assert result.error == "Script timed out after 0.5 s."
    assert wait_dead(int(result.stdout))


def test_memory_limit_then_next_run_works(run: Run) -> None:
    source = "chunks = []\nwhile True:\n    chunks.append(bytearray(10 * 1024 * 1024))\n"
    result = run(source, memory_bytes=256 * MIB)
    assert result.outcome == "failure"
    assert result.exit_code == 1
    assert result.error == "Script exceeded its memory limit (256 MB)."
    assert "MemoryError" in result.stderr.strip().splitlines()[-1]

    assert run("print('still fine')").stdout == "still fine\n"


def test_output_is_truncated_at_the_cap(run: Run) -> None:
    cap = 64 * 1024
    source = (
        "import sys\n"
        "sys.stdout.write('o' * 10_000_000)\n"
        "sys.stderr.write('e' * 100_000)\n"
    )
    result = run(source, output_bytes=cap)
    note = f"\n[runplane: output truncated at {cap} bytes]"
    assert result.outcome == "success"
    assert result.truncated
    assert result.stderr.endswith(note)
    captured = len(result.stdout.encode()) + len(result.stderr.encode()) - len(note)
    assert captured == cap
    assert set(result.stdout) == {"o"}


def test_output_under_the_cap_is_whole(run: Run) -> None:
    result = run("print('x' * 1000)", output_bytes=1001)
    assert not result.truncated
    assert result.stdout == "x" * 1000 + "\n"


def test_invalid_utf8_is_replaced(run: Run) -> None:
    result = run("import sys\nsys.stdout.buffer.write(b'ok \\xff\\xfe end\\n')")
    assert result.outcome == "success"
    assert result.stdout == "ok \ufffd\ufffd end\n"


def test_large_payload_is_not_a_deadlock(run: Run) -> None:
    big = "x" * (3 * MIB)  # far beyond a pipe buffer
    result = run("print(len(ARGS['big']))", args={"big": big})
    assert result.outcome == "success"
    assert result.stdout == f"{len(big)}\n"


def test_grandchildren_die_with_the_run(run: Run) -> None:
    source = (
        "import os, time\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    time.sleep(60)\n"
        "    os._exit(0)\n"
        "print(pid, flush=True)\n"
    )
    started = time.monotonic()
    result = run(source)
    assert result.outcome == "success"
    # The grandchild held the output pipes: returning at once proves it was killed.
    assert time.monotonic() - started < 2.0
    assert wait_dead(int(result.stdout))


def test_run_dir_removed_after_success(run: Run, work_root: Path) -> None:
    result = run("import os\nopen('scratch.txt', 'w').write('data')\nprint(os.getcwd())")
    run_dir = Path(result.stdout.strip())
    assert run_dir.parent == work_root
    assert run_dir.name.startswith("runplane-run-")
    assert gone(run_dir)


def test_run_dir_removed_after_timeout(run: Run, work_root: Path) -> None:
    source = "import os\nprint(os.getcwd(), flush=True)\nwhile True:\n    pass\n"
    result = run(source, timeout_seconds=0.5)
    assert result.outcome == "timeout"
    assert gone(Path(result.stdout.strip()))
    assert no_run_dirs(work_root)


def test_run_dir_removed_when_made_read_only(run: Run, work_root: Path) -> None:
    source = (
        "import os\n"
        "os.makedirs('locked/inner')\n"
        "open('locked/inner/file', 'w').write('x')\n"
        "os.chmod('locked/inner', 0o500)\n"
        "os.chmod('locked', 0o500)\n"
        "os.chmod('.', 0o500)\n"
    )
    assert run(source).outcome == "success"
    assert no_run_dirs(work_root)


def test_unknown_runtime(run: Run) -> None:
    result = run("print(1)", runtime="cobol")
    assert (result.outcome, result.exit_code) == ("failure", None)
    assert "cobol" in (result.error or "")


def test_missing_interpreter_is_a_failure(work_root: Path) -> None:
    executor = SubprocessExecutor(python="/nonexistent/python", work_root=str(work_root))
    result = asyncio.run(executor.execute(request("print(1)")))
    assert (result.outcome, result.exit_code) == ("failure", None)
    assert (result.error or "").startswith("Could not start the script")
    assert no_run_dirs(work_root)


def test_cancellation_kills_and_cleans_up(harness: Harness, work_root: Path) -> None:
    async def scenario() -> int:
        task = asyncio.create_task(harness.executor.execute(request(WRITES_ITS_PID,
                                                                    args="pid")))
        pid = int(await wait_for_run_file(work_root, "pid"))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return pid

    assert wait_dead(harness.call(scenario()))
    assert no_run_dirs(work_root)
    assert harness.run("print('next')").stdout == "next\n"


@pytest.mark.parametrize("kind", ["spawn", "fork"])
def test_close_kills_running_scripts(kind: str, work_root: Path) -> None:
    executor = make_executor(kind, work_root)

    async def scenario() -> tuple[ExecutionResult, int]:
        await executor.start()
        task = asyncio.create_task(executor.execute(request(WRITES_ITS_PID, args="pid")))
        pid = int(await wait_for_run_file(work_root, "pid"))
        await executor.close()
        return await asyncio.wait_for(task, 3.0), pid

    result, pid = asyncio.run(scenario())
    assert result.outcome == "failure"
    assert result.error == "Script was killed by signal SIGKILL."
    assert wait_dead(pid)


def test_many_runs_at_once(run: Run, harness: Harness) -> None:
    source = "import time\ntime.sleep(0.5)\nprint(ARGS)"

    async def scenario() -> list[ExecutionResult]:
        return await asyncio.gather(
            *(harness.executor.execute(request(source, args=n)) for n in range(16))
        )

    started = time.monotonic()
    results = harness.call(scenario())
    assert [result.stdout for result in results] == [f"{n}\n" for n in range(16)]
    assert time.monotonic() - started < 5.0  # together: one after the other takes 8 s


def test_only_standard_descriptors_are_inherited(harness: Harness) -> None:
    source = (
        "import json, os, subprocess, sys\n"
        "listing = 'import os; print(sorted(int(fd) for fd in os.listdir(\"/proc/self/fd\")))'\n"
        "mine = sorted(int(fd) for fd in os.listdir('/proc/self/fd'))\n"
        "theirs = subprocess.run([sys.executable, '-c', listing], capture_output=True,\n"
        "                        text=True).stdout\n"
        "print(json.dumps([mine, json.loads(theirs)]))\n"
    )
    mine, theirs = json.loads(harness.run(source).stdout)
    # 0, 1 and 2, the descriptor listdir itself had open and, in a forked run, the run's own
    # status pipe (its exit status is reported there as it ends): nothing of other runs.
    status = [STATUS_FD] if harness.zygote_pid is not None else []
    assert mine[:3] == [0, 1, 2] and set(status) <= set(mine)
    assert len(mine) == 4 + len(status), mine
    # And nothing but 0, 1 and 2 for what the script starts.
    assert theirs[:3] == [0, 1, 2] and len(theirs) == 4, theirs


def test_temp_files_go_to_the_run_dir(run: Run) -> None:
    result = run("import os, tempfile\nprint(tempfile.gettempdir() == os.getcwd())")
    assert result.stdout == "True\n"


def test_threads_and_atexit_finish_before_exit(run: Run) -> None:
    source = (
        "import atexit, threading, time\n"
        "atexit.register(lambda: print('atexit', flush=True))\n"
        "def late():\n    time.sleep(0.2)\n    print('thread', flush=True)\n"
        "threading.Thread(target=late).start()\n"
        "print('main', flush=True)\n"
    )
    result = run(source)
    assert result.stdout == "main\nthread\natexit\n"


def test_limits_are_applied_to_python(run: Run) -> None:
    source = (
        "import resource as r\n"
        "print([r.getrlimit(x) for x in (r.RLIMIT_AS, r.RLIMIT_FSIZE, r.RLIMIT_NOFILE,"
        " r.RLIMIT_CPU, r.RLIMIT_CORE)])"
    )
    result = run(source, memory_bytes=200 * MIB, file_size_bytes=MIB, open_files=40,
                 timeout_seconds=2.0)
    assert json.loads(result.stdout.replace("(", "[").replace(")", "]")) == [
        [200 * MIB, 200 * MIB], [MIB, MIB], [40, 40], [7, 8], [0, 0],
    ]


@pytest.mark.skipif(os.geteuid() != 0, reason="switching uid needs root")
@pytest.mark.parametrize("kind", ["spawn", "fork"])
def test_run_as_another_user(kind: str) -> None:
    source = (
        "import os\nopen('mine', 'w').write('x')\n"
        "print(os.getuid(), os.getgid(), os.getgroups(), os.stat('mine').st_uid)"
    )
    if kind == "spawn" and not _others_can_run(sys.executable):
        pytest.skip(f"{sys.executable} is out of reach of uid 65534 on this machine")
    # Not under pytest's tmp_path: its parents are closed to other users.
    with tempfile.TemporaryDirectory() as root:
        os.chmod(root, 0o711)
        executor = make_executor(kind, Path(root), run_as_uid=65534, run_as_gid=65534)
        with Harness(executor) as harness:
            result = harness.run(source)
        assert result.outcome == "success", result
        assert result.stdout == "65534 65534 [] 65534\n"
        assert no_run_dirs(Path(root))


def _others_can_run(program: str) -> bool:
    path = Path(os.path.realpath(program))
    return all(os.stat(part).st_mode & 0o001 for part in [path, *path.parents])


# --- shell ---------------------------------------------------------------------------------


def test_shell_echo(run: Run) -> None:
    result = run("echo hello from sh", runtime="shell")
    assert (result.outcome, result.exit_code) == ("success", 0)
    assert result.stdout == "hello from sh\n"


def test_shell_reads_payload_from_stdin(run: Run) -> None:
    result = run("cat", runtime="shell", args={"name": "ada", "n": [1, 2]})
    assert result.outcome == "success"
    assert json.loads(result.stdout) == {"name": "ada", "n": [1, 2]}


def test_shell_payload_env_and_file(run: Run) -> None:
    source = 'printf "%s\\n" "$RUNPLANE_PAYLOAD"\ncat "$RUNPLANE_PAYLOAD_FILE"\n'
    result = run(source, runtime="shell", args=[1, "two"])
    env_line, file_text = result.stdout.split("\n", 1)
    assert json.loads(env_line) == [1, "two"]
    assert json.loads(file_text) == [1, "two"]


def test_shell_large_payload_skips_env(run: Run) -> None:
    big = "y" * (100 * 1024)
    source = 'echo "${RUNPLANE_PAYLOAD:-unset}"\nwc -c < "$RUNPLANE_PAYLOAD_FILE"\nwc -c\n'
    result = run(source, runtime="shell", args=big)
    assert result.outcome == "success"
    assert result.stdout.split() == ["unset", str(len(big) + 2), str(len(big) + 2)]


def test_shell_exit_code(run: Run) -> None:
    result = run("echo oops >&2\nexit 3", runtime="shell")
    assert (result.outcome, result.exit_code) == ("failure", 3)
    assert result.stderr == "oops\n"


def test_shell_limits_are_applied(run: Run) -> None:
    result = run("ulimit -n; ulimit -c; ulimit -t", runtime="shell", open_files=40,
                 timeout_seconds=2.0)
    assert result.stdout.split() == ["40", "0", "7"]  # cpu: ceil(timeout) + 5


def test_shell_shebang_script(run: Run) -> None:
    source = "#!/usr/bin/env python3\nimport json, sys\nprint(json.load(sys.stdin)['k'])\n"
    result = run(source, runtime="shell", args={"k": "via shebang"})
    assert result.outcome == "success"
    assert result.stdout == "via shebang\n"


def test_shell_timeout(run: Run) -> None:
    started = time.monotonic()
    result = run("trap '' TERM\nwhile :; do :; done", runtime="shell", timeout_seconds=0.5)
    assert result.outcome == "timeout"
    assert result.exit_code is None
    assert result.error == "Script timed out after 0.5 s."
    assert time.monotonic() - started < 3.0


def test_shell_background_job_is_killed(run: Run) -> None:
    result = run("sleep 60 >/dev/null 2>&1 &\necho $!", runtime="shell")
    assert result.outcome == "success"
    assert wait_dead(int(result.stdout))


# --- bwrap sandbox -------------------------------------------------------------------------


def _bwrap_works() -> bool:
    return asyncio.run(sandbox.detect("bwrap")) is not None


BWRAP = _bwrap_works()
needs_bwrap = pytest.mark.skipif(not BWRAP, reason="bwrap is missing or does not work here")


@pytest.mark.parametrize("program", ["/nonexistent/bwrap", "/bin/false"])
def test_unusable_bwrap_warns_once_and_runs_unsandboxed(
    program: str, work_root: Path, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_detect = sandbox.detect

    async def detect(requested: str, **kwargs: object) -> sandbox.Bwrap | None:
        return await real_detect(requested, program=program)

    monkeypatch.setattr("runplane.engine.subprocess_executor.detect", detect)
    executor = make_executor("fork", work_root, sandbox="bwrap")
    with caplog.at_level(logging.WARNING, logger="runplane.sandbox"), Harness(executor) as h:
        assert h.run("print('ran')").stdout == "ran\n"
        assert h.run("print('again')").stdout == "again\n"
        assert h.zygote_pid is not None  # not sandboxed: python3 still forks
    warnings = [r.getMessage() for r in caplog.records if r.name == "runplane.sandbox"]
    assert len(warnings) == 1
    assert "NOT sandboxed" in warnings[0]


@pytest.fixture(params=["spawn", "fork"])
def sandboxed(request: pytest.FixtureRequest, work_root: Path) -> Iterator[Harness]:
    if not BWRAP:
        pytest.skip("bwrap is missing or does not work here")
    with Harness(make_executor(request.param, work_root, sandbox="bwrap")) as started:
        yield started


@needs_bwrap
def test_sandbox_has_no_network(sandboxed: Harness) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        source = (
            "import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "    print('connected')\n"
            "except OSError as exc:\n"
            "    print(type(exc).__name__)\n"
        )
        result = sandboxed.run(source)
    assert result.stdout == "ConnectionRefusedError\n"  # only its own, empty loopback


@needs_bwrap
def test_sandbox_filesystem_is_read_only_but_the_run_dir(sandboxed: Harness) -> None:
    source = (
        "import os\n"
        "open('mine.txt', 'w').write('ok')\n"
        "print(open('mine.txt').read())\n"
        "for path in ('/etc/runplane-sandbox-test', '/usr/runplane-sandbox-test'):\n"
        "    try:\n"
        "        open(path, 'w')\n"
        "        print('wrote', path)\n"
        "    except OSError as exc:\n"
        "        print(exc.strerror)\n"
    )
    result = sandboxed.run(source)
    assert result.stdout.split("\n")[:3] == ["ok", "Read-only file system", "Read-only file system"]
    assert not os.path.exists("/etc/runplane-sandbox-test")


@needs_bwrap
@pytest.mark.parametrize("kind", ["spawn", "fork"])
def test_sandbox_has_a_private_tmp(kind: str, work_root: Path) -> None:
    # bwrap alone: confined runs may not even list /tmp.
    executor = make_executor(kind, work_root, sandbox="bwrap", confine="off")
    with tempfile.NamedTemporaryFile(dir="/tmp", prefix="runplane-visible-") as outside, \
            Harness(executor) as sandboxed:
        source = (
            "import os\n"
            f"print(os.path.exists({outside.name!r}), ','.join(sorted(os.listdir('/tmp'))))"
        )
        result = sandboxed.run(source)
    exists, _, listed = result.stdout.strip().partition(" ")
    assert exists == "False"
    # Only what leads to the run dir, and to this Python and runplane if installed under /tmp.
    allowed = {path.split("/")[2] for path in sandbox.installed_under_tmp() if path != "/tmp"}
    entries = {entry for entry in listed.split(",") if entry}
    assert len(entries - allowed) <= 1, entries


@needs_bwrap
def test_sandbox_contains_setsid_escapes(sandboxed: Harness, work_root: Path) -> None:
    marker = f"61.{os.getpid()}"
    source = (
        "import os, subprocess\n"
        f"subprocess.Popen(['sleep', '{marker}'], start_new_session=True,\n"
        "                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "print(os.getpid())\n"
    )
    result = sandboxed.run(source)
    assert result.outcome == "success"
    assert int(result.stdout) < 10  # its own PID namespace
    deadline = time.monotonic() + 3
    while _processes_running(["sleep", marker]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _processes_running(["sleep", marker])
    assert no_run_dirs(work_root)


@needs_bwrap
def test_sandbox_snippet_and_shell(sandboxed: Harness) -> None:
    result = sandboxed.run("results['ok'] = True", mode="snippet",
                           context={"device": None, "payload": {}})
    assert result.value["results"] == {"ok": True}
    shell = sandboxed.run("touch here && ls && touch /etc/nope 2>/dev/null || echo ro",
                          runtime="shell")
    assert shell.stdout.split() == ["here", "payload.json", "script.sh", "ro"]


@needs_bwrap
def test_sandbox_python_runs_are_spawned(work_root: Path) -> None:
    with Harness(make_executor("fork", work_root, sandbox="bwrap")) as harness:
        assert harness.zygote_pid is None  # bwrap wraps an exec, not a fork
        assert harness.run("print(1)").stdout == "1\n"


def _processes_running(argv: list[str]) -> bool:
    wanted = "\0".join(argv).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if cmdline.rstrip(b"\0") == wanted and not is_dead(int(entry)):
            return True
    return False
