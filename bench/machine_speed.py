"""How fast the machine is right now: a fixed pure-Python loop, timed.

On a shared virtual machine the same code can take twice as long from one hour to the next
(other tenants, CPU steal that the guest does not always see). Every benchmark here measures
this before and after it runs and reports both, so its figures can be read against the
machine they were taken on: on a quiet machine of this project's kind the loop takes about
30 ms.
"""

from __future__ import annotations

import time

QUIET_MS = 30.0  # seen on a quiet 2-core machine of this project's kind


def loop_ms(repeat: int = 5) -> float:
    """The best of `repeat` timings of one million squared integers summed, in ms."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        sum(number * number for number in range(1_000_000))
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


def describe(before: float, after: float) -> str:
    slower = max(before, after) / QUIET_MS
    return (f"machine speed: the reference loop took {before} ms before and {after} ms after "
            f"(about {QUIET_MS:g} ms on a quiet machine; {slower:.1f}x now)")
