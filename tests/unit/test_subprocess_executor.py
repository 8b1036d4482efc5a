"""SubprocessExecutor end to end: real child processes, real limits, real signals."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from runplane.engine.execution import ExecutionRequest, ExecutionResult, Limits
from runplane.engine.subprocess_executor import SubprocessExecutor

MIB = 1024 * 1024
LIMITS = Limits(
    timeout_seconds=10.0,
    memory_bytes=256 * MIB,
    output_bytes=64 * 1024,
    file_size_bytes=16 * MIB,
    open_files=64,
)

Run = Callable[..., ExecutionResult]


def request(
    source: str,
    runtime: str = "python3",
    args: Any = None,
    config: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    **limits: Any,
) -> ExecutionRequest:
    return ExecutionRequest(
        runtime=runtime,
        source=source,
        args=args,
        config=config or {},
        meta=meta or {},
        limits=replace(LIMITS, **limits),
    )


@pytest.fixture
def work_root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    root.mkdir()
    return root


@pytest.fixture
def executor(work_root: Path) -> SubprocessExecutor:
    return SubprocessExecutor(work_root=str(work_root))


@pytest.fixture
def run(executor: SubprocessExecutor) -> Run:
    """Execute one script synchronously; keyword arguments go to `request`."""

    def execute(source: str, **kwargs: Any) -> ExecutionResult:
        return asyncio.run(executor.execute(request(source, **kwargs)))

    return execute


def is_dead(pid: int) -> bool:
    """Gone, or a zombie that only waits for init (slow to reap in some sandboxes) to reap it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def wait_dead(pid: int, within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if is_dead(pid):
            return True
        time.sleep(0.02)
    return is_dead(pid)


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
    result = run("import json, os, sys\nprint(json.dumps([sys.stdin.read(), dict(os.environ)]))")
    stdin, env = json.loads(result.stdout)
    assert stdin == ""
    assert "RUNPLANE_TEST_SECRET" not in env
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
    assert not run_dir.exists()


def test_run_dir_removed_after_timeout(run: Run, work_root: Path) -> None:
    source = "import os\nprint(os.getcwd(), flush=True)\nwhile True:\n    pass\n"
    result = run(source, timeout_seconds=0.5)
    assert result.outcome == "timeout"
    assert not Path(result.stdout.strip()).exists()
    assert list(work_root.iterdir()) == []


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
    assert list(work_root.iterdir()) == []


def test_unknown_runtime(run: Run) -> None:
    result = run("print(1)", runtime="cobol")
    assert (result.outcome, result.exit_code) == ("failure", None)
    assert "cobol" in (result.error or "")


def test_missing_interpreter_is_a_failure(work_root: Path) -> None:
    executor = SubprocessExecutor(python="/nonexistent/python", work_root=str(work_root))
    result = asyncio.run(executor.execute(request("print(1)")))
    assert (result.outcome, result.exit_code) == ("failure", None)
    assert (result.error or "").startswith("Could not start the script")
    assert list(work_root.iterdir()) == []


def test_cancellation_kills_and_cleans_up(executor: SubprocessExecutor, tmp_path: Path,
                                          work_root: Path) -> None:
    pid_file = tmp_path / "pid"
    source = (
        "import os, time\n"
        "open(ARGS, 'w').write(str(os.getpid()))\n"
        "time.sleep(60)\n"
    )

    async def scenario() -> None:
        task = asyncio.create_task(executor.execute(request(source, args=str(pid_file))))
        await _wait_for_file(pid_file)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert wait_dead(int(pid_file.read_text()))
    assert list(work_root.iterdir()) == []


def test_close_kills_running_scripts(executor: SubprocessExecutor, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    source = "import os, time\nopen(ARGS, 'w').write(str(os.getpid()))\ntime.sleep(60)\n"

    async def scenario() -> ExecutionResult:
        await executor.start()
        task = asyncio.create_task(executor.execute(request(source, args=str(pid_file))))
        await _wait_for_file(pid_file)
        await executor.close()
        return await asyncio.wait_for(task, 3.0)

    result = asyncio.run(scenario())
    assert result.outcome == "failure"
    assert result.error == "Script was killed by signal SIGKILL."


async def _wait_for_file(path: Path, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not (path.exists() and path.read_text()):
        assert time.monotonic() < deadline, f"{path} never appeared"
        await asyncio.sleep(0.02)


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
