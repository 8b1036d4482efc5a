"""Bounded polling: wait for a condition over HTTP without fixed sleeps."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

# Trace statuses after which nothing changes any more (Syncano's words).
FINAL_TRACE_STATUSES = frozenset({"success", "failure", "timeout", "queue_timeout", "blocked"})


class PollTimeout(AssertionError):
    """The condition did not hold within the time allowed (a test failure, not an error)."""


def wait_until(
    fetch: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float = 30.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Call `fetch` until `done(value)` holds; answer that value, or fail after `timeout` s.

    The pause starts at `interval` and grows gently to 0.1 s, so a fast result is seen at
    once and a slow one costs few requests.
    """
    deadline = time.monotonic() + timeout
    pause = interval
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() >= deadline:
            raise PollTimeout(f"{what} not reached within {timeout:g} s; last value: {value!r}")
        time.sleep(pause)
        pause = min(pause * 1.5, max(interval, 0.1))


def wait_for_trace(
    client: httpx.Client, trace_path: str, *, timeout: float = 30.0
) -> dict[str, Any]:
    """GET `trace_path` until the trace has a final status; answer the trace."""

    def fetch() -> dict[str, Any]:
        response = client.get(trace_path)
        assert response.status_code == 200, (trace_path, response.status_code, response.text)
        return response.json()  # type: ignore[no-any-return]

    return wait_until(
        fetch, lambda trace: trace["status"] in FINAL_TRACE_STATUSES,
        timeout=timeout, what=f"final status of {trace_path}",
    )
