"""In-process wake-ups: new work for the workers, finished runs for waiting callers.

They only make things fast. Correctness never depends on them: waiters also poll the store,
because the work may be queued or finished by another process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict


class Signals:
    def __init__(self) -> None:
        # One event per set of run kinds a claim loop takes (a worker lane).
        self._work: dict[tuple[str, ...], asyncio.Event] = {}
        self._run_waiters: defaultdict[int, set[asyncio.Event]] = defaultdict(set)
        self._stop = asyncio.Event()

    def work_queued(self, kind: str | None = None) -> None:
        """Work of `kind` was queued (None: of any kind, or unknown, as from another
        process): the claim loops that take it look at once."""
        for kinds, event in self._work.items():
            if kind is None or kind in kinds:
                event.set()

    def work_event(self, kinds: tuple[str, ...]) -> asyncio.Event:
        """The event set when work of one of `kinds` is queued. A claim loop clears it
        before it claims, so a wake-up that arrives during the claim is not lost."""
        return self._work.setdefault(kinds, asyncio.Event())

    def stop_requested(self) -> None:
        """A run was asked to stop: local workers look for their tasks of it at once."""
        self._stop.set()

    async def wait_for_stop(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout)
        self._stop.clear()

    def run_finished(self, run_id: int) -> None:
        for event in self._run_waiters.pop(run_id, ()):
            event.set()

    def watch_run(self, run_id: int) -> asyncio.Event:
        event = asyncio.Event()
        self._run_waiters[run_id].add(event)
        return event

    def unwatch_run(self, run_id: int, event: asyncio.Event) -> None:
        waiters = self._run_waiters.get(run_id)
        if waiters is not None:
            waiters.discard(event)
            if not waiters:
                del self._run_waiters[run_id]
