"""Spawn executor: every run is a fresh child process with its own group, directory and limits.

Isolation here is what POSIX offers without privileges: rlimits, a scrubbed environment, a
private working directory and a process group that is SIGKILLed as a whole at the end. A
process that leaves the group with setsid() escapes the final kill, unless the bwrap sandbox
is on (its PID namespace dies with the run); see sandbox.py. The zygote executor uses this one
for shell scripts and for python3 under bwrap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from runplane.clock import utcnow
from runplane.core.secret_key import key_file_path
from runplane.engine.capture import CappedOutput
from runplane.engine.confinement import Confinement, decide
from runplane.engine.execution import ExecutionRequest, ExecutionResult, Limits
from runplane.engine.outcome import ProcessEnd, execution_result, not_started
from runplane.engine.rundir import (
    Janitor,
    base_env,
    choose_work_root,
    cpu_seconds,
    make_workdir,
    python_document,
    read_value,
    result_progress,
    run_as,
)
from runplane.engine.sandbox import Bwrap, as_user, detect
from runplane.engine.watchdog import wait_for_exit
from runplane.settings import Settings
from runplane.store.database import database_file

log = logging.getLogger("runplane.executor")
PYTHON_CHILD = str(Path(__file__).with_name("python_child.py"))
# Linux caps one environment string at 128 KiB (MAX_ARG_STRLEN) and all of argv + env at a
# quarter of the stack limit, so larger payloads are only offered through the file and stdin.
PAYLOAD_ENV_MAX_BYTES = 64 * 1024
# How long to keep reading after the process died: an escaped descendant may hold the pipes.
PIPE_GRACE_SECONDS = 2.0
# A SIGKILLed process normally vanishes at once; this only bounds a hang in the kernel.
REAP_GRACE_SECONDS = 5.0

@dataclass(frozen=True)
class _Launch:
    """Everything needed to start one child process."""

    argv: list[str]
    env: dict[str, str]
    stdin: bytes
    cwd: str


class _ChildProtocol(asyncio.SubprocessProtocol):
    """Drains both pipes as data arrives, so the child never blocks on a full pipe."""

    def __init__(self, output: CappedOutput) -> None:
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

    def __init__(
        self,
        python: str = sys.executable,
        work_root: str | None = None,
        *,
        sandbox: str = "none",
        run_as_uid: int | None = None,
        run_as_gid: int | None = None,
        confine: str = "off",
        confine_read: str = "",
        confine_write: str = "",
        database_path: str | None = None,
        networked_database: bool = False,
        key_file: str | None = None,
    ) -> None:
        self.python = python
        self.run_root = choose_work_root(work_root)
        self.sandbox_requested = sandbox
        self.owner = run_as(run_as_uid, run_as_gid)
        self._bwrap: Bwrap | None = None
        self.confine_requested = confine
        self.confine_read = confine_read
        self.confine_write = confine_write
        self.database_path = database_path
        self.networked_database = networked_database
        # The credentials' secret key file: out of scripts' reach, as the database.
        self.key_file = key_file
        self.confinement = Confinement("off")
        self._running: set[asyncio.SubprocessTransport] = set()
        self.janitor = Janitor(self.run_root.in_memory)

    @classmethod
    def from_settings(cls, settings: Settings, work_root: str | None = None
                      ) -> SubprocessExecutor:
        return cls(work_root=work_root or settings.work_root, sandbox=settings.sandbox,
                   run_as_uid=settings.run_as_uid, run_as_gid=settings.run_as_gid,
                   confine=settings.confine, confine_read=settings.confine_read,
                   confine_write=settings.confine_write,
                   database_path=database_file(settings.database),
                   networked_database=database_file(settings.database) is None,
                   key_file=key_file_path(settings))

    @property
    def work_root(self) -> str:
        return self.run_root.path

    @property
    def sandboxed(self) -> bool:
        """bwrap was requested and works here: runs are wrapped in it."""
        return self._bwrap is not None

    async def start(self) -> None:
        """Probe the sandbox, if one is requested; each run starts its own interpreter."""
        self.janitor.sweep(self.work_root)
        log.info("run directories in %s (%s)", self.work_root,
                 "in memory" if self.run_root.in_memory else "on disk")
        self._bwrap = await detect(self.sandbox_requested, owner=self.owner)
        protected = (self.work_root, *(path for path in (self.database_path, self.key_file)
                                       if path))
        self.confinement = await decide(self.confine_requested, self.python,
                                        extra_read=self.confine_read,
                                        extra_write=self.confine_write, protected=protected,
                                        networked_database=self.networked_database)

    def isolation(self) -> dict[str, Any]:
        """What runs are isolated by here, and what that leaves open (the log, /healthz)."""
        return {
            "confinement": self.confinement.describe(),
            "sandbox": "bwrap" if self._bwrap is not None else "none",
            "run_as": list(self.owner) if self.owner is not None else None,
        }

    async def close(self) -> None:
        """Kill every process group this executor started; wait for run dirs to be removed."""
        for transport in list(self._running):
            kill_group(transport.get_pid())
        await self.janitor.drain()  # runs killed just now queue theirs when they return

    async def execute(self, request: ExecutionRequest) -> ExecutionResult:
        started_at, started = utcnow(), time.monotonic()
        if request.runtime not in self.runtimes:
            return not_started(f"Unsupported runtime {request.runtime!r}.", started_at, started)
        try:
            workdir = make_workdir(self.work_root, self.owner)
        except OSError as exc:
            return not_started(f"Could not create a working directory: {exc}", started_at,
                               started)
        try:
            try:
                launch = self._prepare(request, workdir)
            except (OSError, TypeError, ValueError) as exc:  # also: args json.dumps rejects
                return not_started(f"Could not prepare the script: {exc}", started_at, started)
            try:
                end = await self._run(launch, request.limits, result_progress(request, workdir))
            except OSError as exc:
                return not_started(f"Could not start the script: {exc}", started_at, started)
            end = replace(end, value=read_value(request, workdir))
            return execution_result(request, end, started_at, started)
        finally:
            self.janitor.discard(workdir)

    def _prepare(self, request: ExecutionRequest, workdir: str) -> _Launch:
        if request.runtime == "python3":  # python_child confines itself: one interpreter
            launch = self._prepare_python(request, workdir)
            confined = []
        else:
            launch = _prepare_shell(request, workdir)
            confined = self.confinement.wrap(self.python, workdir)
        argv = [*as_user(self.owner), *confined, *launch.argv]
        if self._bwrap is not None:
            argv = self._bwrap.wrap(argv, workdir)
        return _Launch(argv=argv, env=launch.env, stdin=launch.stdin, cwd=launch.cwd)

    def _prepare_python(self, request: ExecutionRequest, workdir: str) -> _Launch:
        return _Launch(
            argv=[self.python, "-I", "-X", "utf8", PYTHON_CHILD],
            env=base_env(workdir),
            stdin=json.dumps({**python_document(request, workdir),
                              "confine": self.confinement.policy(workdir)}).encode(),
            cwd=workdir,
        )

    async def _run(self, launch: _Launch, limits: Limits,
                   progress: Callable[[], int] | None = None) -> ProcessEnd:
        loop = asyncio.get_running_loop()
        output = CappedOutput(limits.output_bytes)
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
            done = await wait_for_exit(protocol.exited, limits.timeout_seconds, progress)
            # Whether it exited or timed out, nothing it started may outlive the run.
            kill_group(transport.get_pid())
            await wait_quietly(protocol.exited, REAP_GRACE_SECONDS)
            await wait_quietly(protocol.pipes_closed, PIPE_GRACE_SECONDS)
        except BaseException:  # cancelled (e.g. shutdown): leave nothing running, re-raise
            kill_group(transport.get_pid())
            # Let the child watcher reap it, rather than transport.close() racing it.
            await wait_quietly(protocol.exited, REAP_GRACE_SECONDS)
            raise
        finally:
            self._running.discard(transport)
            transport.close()  # closes pipes an escaped process may still hold open
        return ProcessEnd.of(transport.get_returncode(), not done, output)


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


def _feed_stdin(transport: asyncio.SubprocessTransport, data: bytes) -> None:
    # The pipe transport buffers and writes as the child reads, so a payload larger than the
    # pipe cannot deadlock us; close() sends EOF once the buffer is flushed.
    # A child may exit before reading (`echo hi`): under uvloop its pipe is then already
    # closed, and writing to it raises; the data had no reader, so nothing is lost.
    stdin = cast(asyncio.WriteTransport | None, transport.get_pipe_transport(0))
    if stdin is None or stdin.is_closing():
        return
    with contextlib.suppress(RuntimeError, OSError):
        stdin.write(data)
        stdin.close()


async def wait_quietly(future: asyncio.Future[Any], timeout: float) -> None:
    # asyncio.wait never cancels the future, which the protocol may still resolve later.
    await asyncio.wait({future}, timeout=timeout)


def kill_group(pgid: int | None) -> None:
    if pgid is None:
        return
    # Lookup: the whole group is gone already. Permission: a setuid program in the group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
