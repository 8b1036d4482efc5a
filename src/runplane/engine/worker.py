"""The worker loop: claim tasks, execute them, record the results, keep the leases alive.

One worker runs in each process that executes (inside `runplane serve`, or `runplane worker`),
with a number of slots: tasks it runs at once. It never speaks SQL itself; it calls the store's
queue operations. Steps are named for what they do: claim, perform, record, renew, reap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from datetime import timedelta
from typing import Any

from runplane.clock import utcnow
from runplane.core.context import Core
from runplane.engine.execution import ExecutionRequest, ExecutionResult, Executor, Limits
from runplane.errors import StoreUnavailable
from runplane.store import queue
from runplane.store.records import FAILURE, ClaimedTask, TaskResult

log = logging.getLogger("runplane.worker")

# Keys of CONFIG that steer runplane rather than the script; the script does not see them.
CONTROL_KEYS = ("timeout", "allow_full_access")
RECORD_RETRIES = 8


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def script_timeout(script_config: dict[str, Any], default: float, maximum: float) -> float:
    """A script's `config.timeout` (seconds) if it is a positive number, capped at `maximum`."""
    wanted = script_config.get("timeout")
    if isinstance(wanted, int | float) and not isinstance(wanted, bool) and wanted > 0:
        return min(float(wanted), maximum)
    return min(default, maximum)


def execution_request(task: ClaimedTask, core: Core) -> ExecutionRequest:
    settings = core.settings
    assert task.script is not None, "a script run always has its script"
    script = task.script
    merged = {**task.instance_config, **script.config}
    config = {key: value for key, value in merged.items() if key not in CONTROL_KEYS}
    return ExecutionRequest(
        runtime=script.runtime_name,
        source=script.source,
        args=task.payload,
        config=config,
        meta={**task.meta, "attempt": task.attempt},
        limits=Limits(
            timeout_seconds=script_timeout(
                script.config, settings.script_timeout, settings.script_timeout_max
            ),
            memory_bytes=settings.script_memory_bytes,
            output_bytes=settings.output_limit,
            file_size_bytes=settings.file_size_limit,
            open_files=settings.open_files_limit,
        ),
    )


def task_result(result: ExecutionResult) -> TaskResult:
    return TaskResult(
        status=result.outcome,
        exit_code=result.exit_code,
        stdout=result.stdout,
        stderr=result.stderr,
        output_truncated=result.truncated,
        started_at=result.started_at,
        finished_at=result.finished_at,
        duration_ms=result.duration_ms,
        error=result.error,
    )


def internal_failure(message: str) -> TaskResult:
    now = utcnow()
    return TaskResult(
        status=FAILURE, exit_code=None, stdout="", stderr=message, output_truncated=False,
        started_at=now, finished_at=now, duration_ms=0, error=message,
    )


class Worker:
    def __init__(self, core: Core, executor: Executor, *, slots: int) -> None:
        self.core = core
        self.executor = executor
        self.slots = max(1, slots)
        self.name = worker_name()
        self._active: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []

    # Life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self.executor.start()
        self._loops = [
            asyncio.create_task(self._claim_loop(), name="runplane-claim"),
            asyncio.create_task(self._renew_loop(), name="runplane-renew"),
            asyncio.create_task(self._reap_loop(), name="runplane-reap"),
        ]
        log.info("worker %s started with %d slots", self.name, self.slots)

    async def stop(self) -> None:
        """Stop claiming; let running tasks finish within the grace period, then give back."""
        self._stopping.set()
        self.core.signals.work_queued()  # wake the claim loop so it sees the stop
        if self._active:
            _, pending = await asyncio.wait(self._active, timeout=self.core.settings.shutdown_grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        with contextlib.suppress(StoreUnavailable):
            async with self.core.database.write() as conn:
                released = await queue.release(conn, owner=self.name, now=utcnow())
            if released:
                log.info("gave back %d unfinished task(s) to the queue", released)
        await self.executor.close()

    # Claim and perform --------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        settings = self.core.settings
        while not self._stopping.is_set():
            free = self.slots - len(self._active)
            if free <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            try:
                claimed = await self.claim(free)
            except StoreUnavailable as error:
                log.warning("claim failed, retrying: %s", error)
                await asyncio.sleep(settings.poll_interval)
                continue
            if not claimed:
                await self.core.signals.wait_for_work(settings.poll_interval)
                continue
            for task in claimed:
                running = asyncio.create_task(self.perform(task), name=f"task-{task.task_id}")
                self._active.add(running)
                running.add_done_callback(self._task_done)

    def _task_done(self, running: asyncio.Task[None]) -> None:
        self._active.discard(running)
        self._slot_freed.set()

    async def claim(self, limit: int) -> list[ClaimedTask]:
        now = utcnow()
        lease_until = now + timedelta(seconds=self.core.settings.lease_seconds)
        async with self.core.database.write() as conn:
            return await queue.claim(
                conn, owner=self.name, limit=limit, now=now, lease_until=lease_until,
                instance_limit=self.core.settings.instance_concurrency or None,
            )

    async def perform(self, task: ClaimedTask) -> None:
        try:
            result = task_result(await self.executor.execute(execution_request(task, self.core)))
        except asyncio.CancelledError:
            raise  # shutting down: the lease is released and the task runs again elsewhere
        except Exception as error:  # a bug of ours must not lose the task silently
            log.exception("executing task %s failed", task.task_id)
            result = internal_failure(f"runplane: internal error while executing: {error!r}")
        await self.record(task, result)

    async def record(self, task: ClaimedTask, result: TaskResult) -> None:
        """Write the result; a briefly unavailable store is retried rather than losing it."""
        delay = 0.05
        for attempt in range(RECORD_RETRIES):
            try:
                async with self.core.database.write() as conn:
                    recorded = await queue.finish_task(
                        conn, task_id=task.task_id, owner=self.name, result=result
                    )
                break
            except StoreUnavailable as error:
                if attempt == RECORD_RETRIES - 1:
                    log.error("could not record task %s; its lease will expire: %s",
                              task.task_id, error)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        if not recorded.accepted:
            log.warning("task %s: lease lost before its result was recorded; dropped",
                        task.task_id)
        elif recorded.finished_run is not None:
            self.core.signals.run_finished(recorded.finished_run.run_id)

    # Leases -------------------------------------------------------------------------------

    async def _renew_loop(self) -> None:
        period = self.core.settings.lease_seconds / 3
        while True:
            await asyncio.sleep(period)
            try:
                await self.renew()
            except StoreUnavailable as error:
                log.warning("lease renewal failed: %s", error)

    async def renew(self) -> int:
        lease_until = utcnow() + timedelta(seconds=self.core.settings.lease_seconds)
        async with self.core.database.write() as conn:
            return await queue.renew_leases(conn, owner=self.name, lease_until=lease_until)

    async def _reap_loop(self) -> None:
        # Reap at once on start: tasks of a worker that died before us are waiting.
        period = self.core.settings.lease_seconds / 2
        while True:
            try:
                await self.reap()
            except StoreUnavailable as error:
                log.warning("reaping expired leases failed: %s", error)
            await asyncio.sleep(period)

    async def reap(self) -> int:
        """Requeue tasks of dead workers, or fail them once their attempts are used up."""
        now = utcnow()
        async with self.core.database.write() as conn:
            requeued = await queue.requeue_expired(conn, now=now)
            finished = await queue.fail_exhausted(conn, now=now)
        if requeued:
            log.warning("requeued %d task(s) whose worker stopped responding", requeued)
            self.core.signals.work_queued()
        for run in finished:
            log.error("run %s failed: its worker stopped responding too often", run.run_id)
            self.core.signals.run_finished(run.run_id)
        return requeued + len(finished)
