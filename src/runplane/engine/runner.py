"""Wiring a worker to its executor for this process."""

from __future__ import annotations

from runplane.core.context import Core
from runplane.engine.subprocess_executor import SubprocessExecutor
from runplane.engine.worker import Worker


async def start_worker(core: Core) -> Worker:
    worker = Worker(core, SubprocessExecutor(), slots=core.settings.workers)
    await worker.start()
    return worker
