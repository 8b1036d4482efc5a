"""Wiring a worker to its executor for this process."""

from __future__ import annotations

from runplane.core.context import Core
from runplane.delivery.sender import Sender
from runplane.engine.execution import Executor
from runplane.engine.subprocess_executor import SubprocessExecutor
from runplane.engine.worker import Worker, worker_name
from runplane.settings import Settings


def make_executor(settings: Settings) -> Executor:
    if settings.executor == "fork":
        from runplane.engine.zygote_executor import ZygoteExecutor

        return ZygoteExecutor(settings)
    return SubprocessExecutor.from_settings(settings)


async def start_worker(core: Core) -> Worker:
    worker = Worker(core, make_executor(core.settings), slots=core.settings.workers)
    await worker.start()
    return worker


async def start_sender(core: Core) -> Sender:
    """The callback sender of this process; it runs wherever a worker runs."""
    sender = Sender(core.settings, core.database, core.signals.callbacks,
                    name=f"{worker_name()}:sender")
    await sender.start()
    return sender
