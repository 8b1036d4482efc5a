"""What a runplane process runs beside its doors (or without them, as `runplane worker`): the
worker and the callback sender, each wired to the core. Engine and delivery are siblings that
never import each other; this is the one place that starts both."""

from __future__ import annotations

from runplane.core.context import Core
from runplane.delivery.sender import Sender
from runplane.engine.runner import start_worker
from runplane.engine.worker import worker_name

__all__ = ["start_sender", "start_worker"]


async def start_sender(core: Core) -> Sender:
    """The callback sender of this process, woken by the core when it queues a callback."""
    sender = Sender(core.settings, core.database, core.signals.callbacks,
                    name=f"{worker_name()}:sender")
    await sender.start()
    return sender
