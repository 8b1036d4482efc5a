"""First executor: every run is a fresh child process with its own group, directory and limits.

Isolation here is what POSIX offers without privileges: rlimits, a scrubbed environment, a
private working directory and a process group that is SIGKILLed as a whole at the end. A
process that leaves the group with setsid() escapes the final kill; that needs cgroups or a
PID namespace, which a later executor can add.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from runplane.clock import utcnow
from runplane.engine.execution import ExecutionRequest, ExecutionResult, Limits, Outcome

# Importing it runs nothing: the child only acts under __main__.
from runplane.engine.python_child import MEMORY_ERROR_LINE

PYTHON_CHILD = str(Path(__file__).with_name("python_child.py"))
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
# Linux caps one environment string at 128 KiB (MAX_ARG_STRLEN) and all of argv + env at a
# quarter of the stack limit, so larger payloads are only offered through the file and stdin.
PAYLOAD_ENV_MAX_BYTES = 64 * 1024
# How long to keep reading after the process died: an escaped descendant may hold the pipes.
PIPE_GRACE_SECONDS = 2.0
# A SIGKILLed process normally vanishes at once; this only bounds a hang in the kernel.
REAP_GRACE_SECONDS = 5.0
CPU_SECONDS_MARGIN = 5


@dataclass(frozen=True)
class _Launch:
    """Everything needed to start one child process."""

    argv: list[str]
    env: dict[str, str]
    stdin: bytes
    cwd: str


@dataclass
class _Run:
    """What happened to the process, for turning into an ExecutionResult."""

    returncode: int | None
    timed_out: bool
    stdout: str
    stderr: str
    truncated: bool
    dropped_bytes: int


class _CappedOutput:
    """Keeps the first `cap` bytes of stdout and stderr together and counts the rest."""

    def __init__(self, cap: int) -> None:
        self._room = max(0, cap)
        self._chunks: dict[int, list[bytes]] = {1: [], 2: []}
        self.dropped = 0

    def add(self, fd: int, data: bytes) -> None:
        kept = data[: self._room]
        if kept:
            self._chunks[fd].append(kept)
            self._room -= len(kept)
        self.dropped += len(data) - len(kept)

    def text(self, fd: int) -> str:
        # Scripts may write any bytes; a cut may also split a UTF-8 sequence.
        return b"".join(self._chunks[fd]).decode("utf-8", errors="replace")


class _ChildProtocol(asyncio.SubprocessProtocol):
    """Drains both pipes as data arrives, so the child never blocks on a full pipe."""

    def __init__(self, output: _CappedOutput) -> None:
        loop = asyncio.get_running_loop()
        self.output = output
        self.exited: asyncio.Future[None] = loop.create_future()
        self.pipes_closed: asyncio.Future[None] = loop.create_future()
        self._open_pipes = {1, 2}

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self.output.add(fd, data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._open_pipes.discard(fd)
        if not self._open_pipes and not self.pipes_closed.done():
            self.pipes_closed.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


class SubprocessExecutor:
    """Runs "python3" and "shell" scripts, one child process (and group) per execution."""

    runtimes: tuple[str, ...] = ("python3", "shell")

    def __init__(self, python: str = sys.executable, work_root: str | None = None) -> None:
        self.python = python
        self.work_root = work_root
        self._running: set[asyncio.SubprocessTransport] = set()

    async def start(self) -> None:
        """Nothing to prepare: each execution starts its own interpreter."""

    async def close(self) -> None:
        """Kill every process group this executor started that is still running."""
        for transport in list(self._running):
            _kill_group(transport.get_pid())

    async def execute(self, request: ExecutionRequest) -> ExecutionResult:
        started_at, started = utcnow(), time.monotonic()
        if request.runtime not in self.runtimes:
            return _not_started(f"Unsupported runtime {request.runtime!r}.", started_at, started)
        try:
            workdir = self._make_workdir()
        except OSError as exc:
            return _not_started(f"Could not create a working directory: {exc}", started_at, started)
        try:
            try:
                launch = self._prepare(request, workdir)
            except (OSError, TypeError, ValueError) as exc:  # also: args json.dumps rejects
                return _not_started(f"Could not prepare the script: {exc}", started_at, started)
            try:
                run = await self._run(launch, request.limits)
            except OSError as exc:
                return _not_started(f"Could not start the script: {exc}", started_at, started)
            return _result(request, run, started_at, started)
        finally:
            # In a thread: a script may leave thousands of files. Shielded: even if this await
            # is cancelled, the removal itself runs to the end.
            await asyncio.shield(asyncio.to_thread(remove_tree, workdir))

    def _make_workdir(self) -> str:
        if self.work_root is not None:
            os.makedirs(self.work_root, mode=0o700, exist_ok=True)
        return tempfile.mkdtemp(prefix="runplane-run-", dir=self.work_root)

    def _prepare(self, request: ExecutionRequest, workdir: str) -> _Launch:
        if request.runtime == "python3":
            return self._prepare_python(request, workdir)
        return _prepare_shell(request, workdir)

    def _prepare_python(self, request: ExecutionRequest, workdir: str) -> _Launch:
        limits = request.limits
        document = {
            "source": request.source,
            "args": request.args,
            "config": request.config,
            "meta": request.meta,
            "limits": {
                "memory_bytes": limits.memory_bytes,
                "file_size_bytes": limits.file_size_bytes,
                "open_files": limits.open_files,
                "cpu_seconds": cpu_seconds(limits),
            },
        }
        return _Launch(
            argv=[self.python, "-I", "-X", "utf8", PYTHON_CHILD],
            env=base_env(workdir),
            stdin=json.dumps(document).encode(),
            cwd=workdir,
        )

    async def _run(self, launch: _Launch, limits: Limits) -> _Run:
        loop = asyncio.get_running_loop()
        output = _CappedOutput(limits.output_bytes)
        transport, protocol = await loop.subprocess_exec(
            lambda: _ChildProtocol(output),
            *launch.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=launch.cwd,
            env=launch.env,
            start_new_session=True,  # its own process group, killable as a whole
        )
        self._running.add(transport)
        try:
            _feed_stdin(transport, launch.stdin)
            done, _ = await asyncio.wait({protocol.exited}, timeout=limits.timeout_seconds)
            # Whether it exited or timed out, nothing it started may outlive the run.
            _kill_group(transport.get_pid())
            await _wait_quietly(protocol.exited, REAP_GRACE_SECONDS)
            await _wait_quietly(protocol.pipes_closed, PIPE_GRACE_SECONDS)
        except BaseException:  # cancelled (e.g. shutdown): leave nothing running, re-raise
            _kill_group(transport.get_pid())
            # Let the child watcher reap it, rather than transport.close() racing it.
            await _wait_quietly(protocol.exited, REAP_GRACE_SECONDS)
            raise
        finally:
            self._running.discard(transport)
            transport.close()  # closes pipes an escaped process may still hold open
        return _Run(
            returncode=transport.get_returncode(),
            timed_out=not done,
            stdout=output.text(1),
            stderr=output.text(2),
            truncated=output.dropped > 0,
            dropped_bytes=output.dropped,
        )


def _prepare_shell(request: ExecutionRequest, workdir: str) -> _Launch:
    """Shell scripts get the payload JSON three ways.

    On stdin; in the file named by RUNPLANE_PAYLOAD_FILE; and in RUNPLANE_PAYLOAD, but only
    when the JSON is at most PAYLOAD_ENV_MAX_BYTES (64 KiB), because the kernel limits the
    size of environment strings and a larger one would make exec fail (E2BIG).
    """
    payload = json.dumps(request.args)  # ASCII only, so its length is its size in bytes
    script = Path(workdir, "script.sh")
    script.write_text(request.source, encoding="utf-8")
    payload_file = Path(workdir, "payload.json")
    payload_file.write_text(payload, encoding="utf-8")
    env = base_env(workdir)
    env["RUNPLANE_PAYLOAD_FILE"] = str(payload_file)
    if len(payload) <= PAYLOAD_ENV_MAX_BYTES:
        env["RUNPLANE_PAYLOAD"] = payload
    if request.source.startswith("#!"):
        script.chmod(0o700)
        run_script = "exec ./script.sh"  # the kernel honours the script's own interpreter
    else:
        run_script = "exec /bin/sh ./script.sh"
    command = f"{shell_ulimits(request.limits)} {run_script}"
    return _Launch(argv=["/bin/sh", "-c", command], env=env, stdin=payload.encode(), cwd=workdir)


def shell_ulimits(limits: Limits) -> str:
    """ulimit commands for dash, which sets soft and hard limits together, in its own units.

    Joined with && and ending in one: dash reports a failed ulimit and carries on, and a
    script must never run without its limits.
    """
    memory = _capped(resource.RLIMIT_AS, limits.memory_bytes)
    file_size = _capped(resource.RLIMIT_FSIZE, limits.file_size_bytes)
    open_files = _capped(resource.RLIMIT_NOFILE, limits.open_files)
    cpu = _capped(resource.RLIMIT_CPU, cpu_seconds(limits))
    return (
        f"ulimit -v {memory // 1024} && "  # KiB
        f"ulimit -f {file_size // 512} && "  # 512-byte blocks
        f"ulimit -n {open_files} && "
        "ulimit -c 0 && "
        f"ulimit -t {cpu} &&"
    )


def _capped(which: int, wanted: int) -> int:
    # An unprivileged shell cannot raise a limit above the hard limit it inherited from us.
    _, hard = resource.getrlimit(which)
    return wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)


def cpu_seconds(limits: Limits) -> int:
    # A backstop only: the wall-clock timeout is what normally ends a busy script.
    return math.ceil(limits.timeout_seconds) + CPU_SECONDS_MARGIN


def base_env(workdir: str) -> dict[str, str]:
    """The whole environment of a script: nothing of the server's leaks through."""
    return {
        "PATH": SAFE_PATH,
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
        "RUNPLANE_RUN_DIR": workdir,
    }


def _feed_stdin(transport: asyncio.SubprocessTransport, data: bytes) -> None:
    # The pipe transport buffers and writes as the child reads, so a payload larger than the
    # pipe cannot deadlock us; close() sends EOF once the buffer is flushed.
    stdin = cast(asyncio.WriteTransport | None, transport.get_pipe_transport(0))
    if stdin is None:
        return
    stdin.write(data)
    stdin.close()


async def _wait_quietly(future: asyncio.Future[None], timeout: float) -> None:
    # asyncio.wait never cancels the future, which the protocol may still resolve later.
    await asyncio.wait({future}, timeout=timeout)


def _kill_group(pgid: int | None) -> None:
    if pgid is None:
        return
    # Lookup: the whole group is gone already. Permission: a setuid program in the group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def remove_tree(root: str) -> None:
    """Remove a run directory, even when the script made parts of it read-only."""
    failures: list[str] = []
    shutil.rmtree(root, onerror=lambda _func, path, _exc: failures.append(path))
    if failures or os.path.lexists(root):
        _make_dirs_writable(root)
        shutil.rmtree(root, ignore_errors=True)


def _make_dirs_writable(root: str) -> None:
    # Directories only, never through a symlink: chmod follows links, and a script could
    # point one at a directory outside its own.
    _chmod_dir(root)
    for parent, dirnames, _files in os.walk(root):
        for name in dirnames:
            _chmod_dir(os.path.join(parent, name))  # before os.walk lists it


def _chmod_dir(path: str) -> None:
    with contextlib.suppress(OSError):
        if stat.S_ISDIR(os.lstat(path).st_mode):
            os.chmod(path, stat.S_IRWXU)


def _result(
    request: ExecutionRequest, run: _Run, started_at: datetime, started: float
) -> ExecutionResult:
    outcome, exit_code, error, details = _judge(request, run)
    stderr = run.stderr
    if run.truncated:
        stderr += f"\n[runplane: output truncated at {request.limits.output_bytes} bytes]"
        details["dropped_bytes"] = run.dropped_bytes
    return ExecutionResult(
        outcome=outcome,
        exit_code=exit_code,
        stdout=run.stdout,
        stderr=stderr,
        truncated=run.truncated,
        started_at=started_at,
        finished_at=utcnow(),
        duration_ms=_elapsed_ms(started),
        error=error,
        details=details,
    )


def _judge(
    request: ExecutionRequest, run: _Run
) -> tuple[Outcome, int | None, str | None, dict[str, Any]]:
    """Outcome, exit code, runplane's explanation and details for a finished process."""
    limits = request.limits
    if run.timed_out:
        seconds = _number(limits.timeout_seconds)
        return "timeout", None, f"Script timed out after {seconds} s.", {}
    code = run.returncode
    if code is None:  # never reaped within the grace period
        return "failure", None, "Script did not exit after being killed.", {}
    if code == 0:
        return "success", 0, None, {}
    if code < 0:
        name = _signal_name(-code)
        return "failure", None, _signal_error(name, limits), {"signal": name}
    if request.runtime == "python3" and MEMORY_ERROR_LINE in run.stderr:
        return "failure", code, f"Script exceeded its memory limit ({_mb(limits)} MB).", {}
    return "failure", code, None, {}


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _signal_error(name: str, limits: Limits) -> str:
    if name == "SIGXCPU":
        return f"Script exceeded its CPU time limit ({cpu_seconds(limits)} s)."
    if name == "SIGXFSZ":
        return f"Script exceeded its file size limit ({limits.file_size_bytes} bytes)."
    return f"Script was killed by signal {name}."


def _mb(limits: Limits) -> str:
    return _number(limits.memory_bytes / (1024 * 1024))


def _number(value: float) -> str:
    # 30.0 -> "30", 0.5 -> "0.5", and no exponent notation for large values.
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _not_started(error: str, started_at: datetime, started: float) -> ExecutionResult:
    return ExecutionResult(
        outcome="failure",
        exit_code=None,
        stdout="",
        stderr="",
        truncated=False,
        started_at=started_at,
        finished_at=utcnow(),
        duration_ms=_elapsed_ms(started),
        error=error,
    )


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
