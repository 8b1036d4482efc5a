"""Shared by the executor tests: requests, process checks, and executors driven from sync tests.

An executor runs on one event loop kept for its whole life (the zygote executor reads its
fork server's reports on it), so each test gets a `Harness` rather than calling asyncio.run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

from runplane.engine.execution import ExecutionRequest, ExecutionResult, Executor, Limits
from runplane.engine.rundir import MEMORY_FILESYSTEMS, SHARED_MEMORY, filesystem_type
from runplane.engine.subprocess_executor import SubprocessExecutor
from runplane.engine.zygote_executor import ZygoteExecutor
from runplane.settings import Settings

T = TypeVar("T")
MIB = 1024 * 1024
LIMITS = Limits(
    timeout_seconds=10.0,
    memory_bytes=256 * MIB,
    output_bytes=64 * 1024,
    file_size_bytes=16 * MIB,
    open_files=64,
)
EXECUTORS = ("spawn", "fork")


def request(
    source: str,
    runtime: str = "python3",
    args: Any = None,
    config: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    mode: str = "script",
    context: dict[str, Any] | None = None,
    **limits: Any,
) -> ExecutionRequest:
    return ExecutionRequest(
        runtime=runtime,
        source=source,
        args=args,
        config=config or {},
        meta=meta or {},
        limits=replace(LIMITS, **limits),
        mode=mode,  # type: ignore[arg-type]
        context=context or {},
    )


def make_executor(kind: str, work_root: Path, **settings: Any) -> Executor:
    if kind == "fork":
        return ZygoteExecutor(Settings(**settings), work_root=str(work_root))
    return SubprocessExecutor.from_settings(Settings(**settings), work_root=str(work_root))


class Harness:
    """One started executor on its own event loop; `run` executes a script and waits."""

    def __init__(self, executor: Executor,
                 loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None) -> None:
        self.executor = executor
        self._runner = asyncio.Runner(loop_factory=loop_factory)

    def __enter__(self) -> Harness:
        self.call(self.executor.start())
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.call(self.executor.close())
        finally:
            self._runner.close()

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(coroutine)

    def run(self, source: str, **kwargs: Any) -> ExecutionResult:
        return self.call(self.executor.execute(request(source, **kwargs)))

    @property
    def zygote_pid(self) -> int | None:
        return getattr(self.executor, "zygote_pid", None)


@pytest.fixture
def work_root(tmp_path: Path) -> Iterator[Path]:
    """Where the default puts run dirs: in memory (/dev/shm) where that is a tmpfs."""
    if filesystem_type(SHARED_MEMORY) not in MEMORY_FILESYSTEMS:
        root = tmp_path / "runs"
        root.mkdir()
        yield root
        return
    root = Path(tempfile.mkdtemp(prefix="runplane-test-", dir=SHARED_MEMORY))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=EXECUTORS)
def harness(request: pytest.FixtureRequest, work_root: Path) -> Iterator[Harness]:
    """Each test once with the spawn executor and once with the zygote (fork) executor."""
    with Harness(make_executor(request.param, work_root)) as started:
        yield started


def is_dead(pid: int) -> bool:
    """Gone, or a zombie that only waits for init (slow to reap in some sandboxes) to reap it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):  # reaped between open and read: ESRCH
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def wait_dead(pid: int, within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if is_dead(pid):
            return True
        time.sleep(0.02)
    return is_dead(pid)


def children(of: int) -> dict[int, str]:
    """pid -> state letter of every process whose parent is `of`."""
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == of:
            found[int(entry)] = fields[0]
    return found


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def wait_for_file(path: Path, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not (path.exists() and path.read_text()):
        assert time.monotonic() < deadline, f"{path} never appeared"
        await asyncio.sleep(0.02)


# A script that says its pid in a file of its own run directory (a confined run can write
# nowhere else), named by ARGS, then waits to be killed.
WRITES_ITS_PID = ("import os, time\n"
                  "path = os.path.join(os.environ['RUNPLANE_RUN_DIR'], ARGS)\n"
                  "open(path + '.part', 'w').write(str(os.getpid()))\n"
                  "os.rename(path + '.part', path)\n"
                  "time.sleep(60)\n")


async def wait_for_run_file(work_root: Path, name: str, within: float = 5.0) -> str:
    """The text of the file `name` once a run has written it in its directory."""
    deadline = time.monotonic() + within
    while True:
        for path in work_root.glob(f"runplane-run-*/{name}"):
            with contextlib.suppress(OSError):
                return path.read_text()
        assert time.monotonic() < deadline, f"no run wrote {name}"
        await asyncio.sleep(0.02)


def gone(path: Path, within: float = 3.0) -> bool:
    """Run directories are removed in the background, a moment after the result."""
    deadline = time.monotonic() + within
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return not path.exists()


def no_run_dirs(work_root: Path, within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while list(work_root.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return list(work_root.iterdir()) == []
