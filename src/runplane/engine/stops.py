"""Stops: which running tasks a stop of their run may cancel, and what they end as then.

Only a task inside its performer may be cancelled by a stop, never one whose result is
being recorded (cancelling that would lose the result). A task cancelled for a stop ends
as aborted; a cancellation for any other reason (the worker shutting down) goes on up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from runplane.clock import utcnow
from runplane.engine.script_performer import internal_failure
from runplane.model import ABORTED, TaskResult

log = logging.getLogger("runplane.worker")


def aborted_result() -> TaskResult:
    now = utcnow()
    message = "Aborted: the run was stopped."
    return TaskResult(
        status=ABORTED, exit_code=None, stdout="", stderr=message, output_truncated=False,
        started_at=now, finished_at=now, duration_ms=0, error=message,
    )


class StopGuard:
    def __init__(self) -> None:
        # Tasks inside their performer: only those may be cancelled by a stop.
        self._executing: set[int] = set()
        # Tasks cancelled because their run was stopped (not because we are shutting down).
        self._aborting: set[int] = set()

    async def execute(self, ids: list[int],
                      work: Callable[[], Awaitable[list[TaskResult | None]]]
                      ) -> list[TaskResult | None]:
        """The results of `work` for the tasks `ids`; a stop of their run makes them
        aborted, a bug of ours a failure (never a lost task)."""
        self._executing.update(ids)
        try:
            return await work()
        except asyncio.CancelledError:
            if not self._aborting.intersection(ids):
                raise  # shutting down: the leases are released, the tasks run again elsewhere
            self._aborting.difference_update(ids)
            return [aborted_result() for _ in ids]
        except Exception as error:  # a bug of ours must not lose the tasks silently
            log.exception("performing tasks %s failed", ids)
            message = f"runplane: internal error while executing: {error!r}"
            return [internal_failure(message) for _ in ids]
        finally:
            self._executing.difference_update(ids)

    def cancel(self, stopped: Iterable[int], running: dict[int, asyncio.Task[None]]) -> None:
        """Cancel the tasks of `stopped` (by id) that are still executing here."""
        for task_id in stopped:
            task = running.get(task_id)
            if task is not None and task_id in self._executing and task_id not in self._aborting:
                self._aborting.add(task_id)
                task.cancel()
