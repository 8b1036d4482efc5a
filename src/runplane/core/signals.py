"""In-process wake-ups: new work for the workers, finished runs for waiting callers, new
callbacks for this process's sender.

They only make things fast. Correctness never depends on them: waiters also poll the store,
because the work may be queued or finished by another process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict, defaultdict

from runplane.model import Run

RECENTLY_ENDED = 1024


class Signals:
    def __init__(self) -> None:
        # One event per set of run kinds a claim loop takes (a worker lane).
        self._work: dict[tuple[str, ...], asyncio.Event] = {}
        self._run_waiters: defaultdict[int, set[asyncio.Event]] = defaultdict(set)
        # Runs that ended lately, oldest first: a waiter that comes late still hears of it.
        self._ended: OrderedDict[int, Run | None] = OrderedDict()
        self._stop = asyncio.Event()
        # The sender waits on it (it is handed over where the app is wired); the core sets it
        # without knowing who, if anyone, sends callbacks in this process.
        self.callbacks = asyncio.Event()

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

    def callback_queued(self) -> None:
        """A callback was just written to the outbox: this process's sender looks at once
        instead of at its next poll (callbacks of other processes are found by polling)."""
        self.callbacks.set()

    def stop_requested(self) -> None:
        """A run was asked to stop: local workers look for their tasks of it at once."""
        self._stop.set()

    async def wait_for_stop(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout)
        self._stop.clear()

    def run_finished(self, run_id: int, run: Run | None = None) -> None:
        """The run ended (`run`: as it ended, with its output, if the caller has it)."""
        self._ended[run_id] = run
        while len(self._ended) > RECENTLY_ENDED:
            self._ended.popitem(last=False)
        for event in self._run_waiters.pop(run_id, ()):
            event.set()

    def ended(self, run_id: int) -> tuple[bool, Run | None]:
        """Whether the run ended lately in this process, and as what, if that is known."""
        if run_id in self._ended:
            return True, self._ended[run_id]
        return False, None

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
