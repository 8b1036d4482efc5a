"""Waking this process's sender when a callback was just queued here, instead of letting it
find the callback at its next look (`RUNPLANE_CALLBACK_POLL_INTERVAL`). Only an optimisation:
callbacks queued by other processes are found by polling."""

from __future__ import annotations

import asyncio

from runplane.core.context import Core

_events: dict[int, asyncio.Event] = {}


def event_for(core: Core) -> asyncio.Event:
    """The event the sender of `core` waits on (made on first use)."""
    return _events.setdefault(id(core), asyncio.Event())


def forget(core: Core) -> None:
    _events.pop(id(core), None)


def nudge(core: Core) -> None:
    event = _events.get(id(core))
    if event is not None:
        event.set()
