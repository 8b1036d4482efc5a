"""Fork executor: python3 runs are forked from a warm zygote, a few milliseconds each.

One zygote (zygote.py) per executor, that is per worker process: a small interpreter started
with ``python -I``, never a fork of the server. For each run the executor makes the run's
directory and sends an order; the zygote hands it to a child forked ahead of time (the
spare) that has taken its own session, closed every inherited descriptor, pointed fd 1 and
2 at fresh pipes and emptied its environment; the child fills in the run's environment,
optionally switches uid, and calls python_child.run, which applies the rlimits. The zygote
hands back the pipes' read ends (SCM_RIGHTS) and, having reaped the child, its exit status.

Here, as in the spawn executor: output is capped and drained (capture.py), the wall-clock
timeout kills the run's group, and the directory is removed in the end. The zygote kills the
group when the child exits, while the child's pid is still a zombie and so cannot be reused.

If the zygote dies, the runs in flight end as failures saying so, their groups are killed,
and a new zygote is started at once. Shell scripts, and python3 when the bwrap sandbox is
active (bwrap wraps an exec, not a fork), go through an internal SubprocessExecutor.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from runplane.clock import utcnow
from runplane.engine.capture import CappedOutput, PipeDrain
from runplane.engine.execution import ExecutionRequest, ExecutionResult, Limits
from runplane.engine.outcome import ProcessEnd, execution_result, not_started
from runplane.engine.rundir import (
    Janitor,
    base_env,
    make_workdir,
    python_document,
    read_value,
    result_progress,
)
from runplane.engine.subprocess_executor import (
    PIPE_GRACE_SECONDS,
    REAP_GRACE_SECONDS,
    SubprocessExecutor,
    kill_group,
    wait_quietly,
)
from runplane.engine.watchdog import wait_for_exit
from runplane.engine.zygote_client import (
    ForkRefused,
    Order,
    ReportedStatus,
    Zygote,
    ZygoteDied,
    ZygoteUnavailable,
)
from runplane.settings import Settings

log = logging.getLogger("runplane.zygote")

ZYGOTE_DIED = "runplane: the fork server died during this run; it was restarted"
ZYGOTE_STUCK = "runplane: the fork server did not start this run in time; it was restarted"


def _kill_run(order: Order, pid: int) -> None:
    """Kill a run's group, and its first process too: forked a moment ago, it may not have
    left the zygote's group yet. Only while the zygote has not reported it reaped."""
    kill_group(pid)
    if not order.exited.done():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


async def _ended(order: Order, reported: ReportedStatus) -> int | None:
    """The run's exit status, as soon as the child reports it, else once the zygote has
    reaped it (None: the zygote died first)."""
    done, _ = await asyncio.wait({order.exited, reported.status},
                                 return_when=asyncio.FIRST_COMPLETED)
    if reported.status in done and reported.status.result() is not None:
        return reported.status.result()
    return await order.exited


class _Stuck(Exception):
    """The zygote did not answer an order in time."""


class ZygoteExecutor:
    """Runs "python3" by forking a warm zygote, and "shell" as the spawn executor does."""

    runtimes: tuple[str, ...] = ("python3", "shell")

    def __init__(self, settings: Settings | None = None, *, python: str = sys.executable,
                 work_root: str | None = None) -> None:
        self.python = python
        self.spawn = SubprocessExecutor.from_settings(settings or Settings(), work_root)
        self.spawn.python = python
        self.work_root = self.spawn.work_root
        self._zygote: Zygote | None = None
        self._starting = asyncio.Lock()
        self._running: set[int] = set()  # pids (and group ids) of runs in flight
        self._restarts: set[asyncio.Task[None]] = set()
        self._closed = False
        self.janitor = Janitor(self.spawn.run_root.in_memory)

    @property
    def zygote_pid(self) -> int | None:
        zygote = self._zygote
        return zygote.pid if zygote is not None and zygote.alive else None

    async def start(self) -> None:
        """Probe the sandbox; start the zygote unless python3 runs are spawned in bwrap."""
        await self.spawn.start()  # it also sweeps run dirs left by dead processes
        if not self.spawn.sandboxed:
            await self._ensure_zygote()

    def isolation(self) -> dict[str, Any]:
        return self.spawn.isolation()

    async def close(self) -> None:
        """Kill every running group, then stop the zygote and the spawn executor's runs."""
        self._closed = True
        for pid in list(self._running):
            kill_group(pid)
        # A restart under way finishes (it cannot start another: we are closed), then stops.
        await asyncio.gather(*self._restarts, return_exceptions=True)
        async with self._starting:
            if self._zygote is not None:
                await self._zygote.stop()
        await self.spawn.close()
        await self.janitor.drain()  # runs killed just now queue theirs when they return

    async def execute(self, request: ExecutionRequest) -> ExecutionResult:
        if request.runtime != "python3" or self.spawn.sandboxed:
            return await self.spawn.execute(request)
        started_at, started = utcnow(), time.monotonic()
        try:
            workdir = make_workdir(self.work_root, self.spawn.owner)
        except OSError as exc:
            return not_started(f"Could not create a working directory: {exc}", started_at,
                               started)
        try:
            try:
                order = self._order(request, workdir)
            except (TypeError, ValueError) as exc:  # args or config that JSON cannot hold
                return not_started(f"Could not prepare the script: {exc}", started_at, started)
            try:
                zygote = await self._ensure_zygote()
            except ZygoteUnavailable as exc:
                return not_started(f"Could not start the fork server: {exc}", started_at,
                                   started)
            end = await self._run(zygote, order, request.limits,
                                  result_progress(request, workdir))
            end = replace(end, value=read_value(request, workdir))
            return execution_result(request, end, started_at, started)
        finally:
            self.janitor.discard(workdir)

    def _order(self, request: ExecutionRequest, workdir: str) -> bytes:
        """The order's JSON body; TypeError or ValueError for args JSON cannot hold."""
        return json.dumps({
            "workdir": workdir,
            "env": base_env(workdir),
            "owner": self.spawn.owner,
            "request": python_document(request, workdir),
        }).encode()

    async def _run(self, zygote: Zygote, message: bytes, limits: Limits,
                   progress: Callable[[], int] | None = None) -> ProcessEnd:
        output = CappedOutput(limits.output_bytes)
        try:
            pid, stdout_fd, stderr_fd, status_fd, order = await self._fork(zygote, message,
                                                                           limits)
        except ZygoteDied:
            return ProcessEnd.of(None, False, output, failure=ZYGOTE_DIED)
        except ZygoteUnavailable as exc:
            return ProcessEnd.of(None, False, output,
                                 failure=f"Could not start the fork server: {exc}")
        except ForkRefused as exc:
            return ProcessEnd.of(None, False, output,
                                 failure=f"Could not start the script: {exc}")
        except _Stuck:
            return ProcessEnd.of(None, False, output, failure=ZYGOTE_STUCK)
        self._running.add(pid)
        reported = ReportedStatus(status_fd)
        try:
            drain = PipeDrain.open(stdout_fd, stderr_fd, output)
            try:
                return await self._watch(order, pid, drain, reported, limits, progress)
            finally:
                drain.close()  # a process that escaped the group may still hold the pipes
                reported.close()
        except BaseException:  # cancelled (e.g. shutdown): leave nothing running, re-raise
            _kill_run(order, pid)
            await wait_quietly(order.exited, REAP_GRACE_SECONDS)
            raise
        finally:
            self._running.discard(pid)

    async def _fork(self, zygote: Zygote, message: bytes, limits: Limits
                    ) -> tuple[int, int, int, int, Order]:
        """Order the run; answer its pid, its stdout, stderr and status read ends, and the
        order.

        A zygote that dies before reporting "started" never let the script run (its child,
        if any, dies in setup with it): that order is retried once on a fresh zygote. This
        covers a zygote that died while idle, which we learn only when writing to it.
        """
        for attempt in (1, 2):
            order = await zygote.order(message)
            try:
                pid, stdout_fd, stderr_fd, status_fd = await asyncio.wait_for(
                    order.started, limits.timeout_seconds
                )
            except ZygoteDied:
                if attempt == 2:
                    raise
                zygote = await self._ensure_zygote()
                continue
            except TimeoutError:  # wedged: replace it (a late "started" is killed on arrival)
                zygote.kill()
                raise _Stuck from None
            return pid, stdout_fd, stderr_fd, status_fd, order
        raise AssertionError("unreachable")

    async def _watch(self, order: Order, pid: int, drain: PipeDrain, reported: ReportedStatus,
                     limits: Limits, progress: Callable[[], int] | None) -> ProcessEnd:
        ended = asyncio.ensure_future(_ended(order, reported))
        try:
            timed_out = not await wait_for_exit(ended, limits.timeout_seconds, progress)
        finally:
            ended.cancel()  # if still waiting (timed out, or we are cancelled)
        if timed_out:
            _kill_run(order, pid)
            await wait_quietly(order.exited, REAP_GRACE_SECONDS)
            returncode = order.exited.result() if order.exited.done() else None
        else:
            # Reported by the child as it exited, or by the zygote once it reaped it (which
            # also kills what the run left in its group).
            returncode = ended.result()
        lost = returncode is None and order.exited.done()
        if lost:
            # The zygote died first: nobody reaped the child, so its pid still names its
            # group (or init reaped it just now, a window of microseconds).
            kill_group(pid)
        await wait_quietly(drain.closed, PIPE_GRACE_SECONDS)
        return ProcessEnd.of(returncode, timed_out and not lost, drain.output,
                             failure=ZYGOTE_DIED if lost else None)

    # The zygote's life ---------------------------------------------------------------------

    async def _ensure_zygote(self) -> Zygote:
        zygote = self._zygote
        if zygote is not None and zygote.alive:
            return zygote
        async with self._starting:
            if self._closed:
                raise ZygoteUnavailable("the executor is closed")
            if self._zygote is None or not self._zygote.alive:
                self._zygote = await Zygote.spawn(self.python, self._zygote_died,
                                                  self.spawn.confinement.shared_policy())
                log.info("fork server started (pid %d)", self._zygote.pid)
            return self._zygote

    def _zygote_died(self, zygote: Zygote) -> None:
        if self._closed:
            return
        log.error("the fork server (pid %d) died; restarting it", zygote.pid)
        task = asyncio.get_running_loop().create_task(self._restart(zygote))
        self._restarts.add(task)
        task.add_done_callback(self._restarts.discard)

    async def _restart(self, dead: Zygote) -> None:
        await dead.wait_exited()
        try:
            await self._ensure_zygote()
        except ZygoteUnavailable as exc:  # the next run tries again, and says why
            log.error("could not restart the fork server: %s", exc)
