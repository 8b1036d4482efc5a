"""Wiring this process's worker: its executor, its performers, and its handoff to the core."""

from __future__ import annotations

from runplane.core.context import Core
from runplane.engine.execution import Executor
from runplane.engine.performer_registry import performers_by_kind
from runplane.engine.subprocess_executor import SubprocessExecutor
from runplane.engine.worker import Worker
from runplane.settings import Settings


def make_executor(settings: Settings) -> Executor:
    if settings.executor == "fork":
        from runplane.engine.zygote_executor import ZygoteExecutor

        return ZygoteExecutor(settings)
    return SubprocessExecutor.from_settings(settings)


async def start_worker(core: Core) -> Worker:
    """The worker of this process, started; runs made here are handed to its lanes at once
    (core/handoff.py) until it begins to stop. The batch actions must be attached first."""
    core.jobs()  # fails here, not in the reaper or at the first batch
    worker = Worker(core, make_executor(core.settings), performers_by_kind(),
                    slots=core.settings.workers)
    await worker.start()
    lanes = worker.lanes
    core.handoff = lanes

    def detach() -> None:
        if core.handoff is lanes:
            core.handoff = None

    worker.on_stopping.append(detach)
    return worker
