"""Latency and throughput statistics, shared by the runplane and Celery measurements."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


def percentile(ordered: list[float], q: float) -> float:
    """The q-th percentile (0..100) of sorted values, interpolating between neighbours."""
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Latency:
    calls: int
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    first_error: str | None = None

    @classmethod
    def of(cls, seconds: list[float], errors: int, first_error: str | None = None) -> Latency:
        ordered = sorted(value * 1000 for value in seconds)
        mean = sum(ordered) / len(ordered) if ordered else float("nan")
        return cls(
            calls=len(seconds) + errors, errors=errors,
            p50_ms=round(percentile(ordered, 50), 3), p90_ms=round(percentile(ordered, 90), 3),
            p99_ms=round(percentile(ordered, 99), 3), mean_ms=round(mean, 3),
            max_ms=round(ordered[-1], 3) if ordered else float("nan"), first_error=first_error,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Throughput:
    runs: int
    failures: int
    seconds: float  # first submit to last run observed finished
    submit_seconds: float  # first submit to last submit answered
    first_failure: str | None = None

    @property
    def runs_per_s(self) -> float:
        return self.runs / self.seconds if self.seconds > 0 else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "runs_per_s": round(self.runs_per_s, 1)}


def sequential_latency(
    call: Callable[[int], str | None], count: int, time_limit: float
) -> Latency:
    """Time `count` calls one after the other; a call answering a message or raising is an error.

    The timings of errors are left out of the percentiles. Stops at `time_limit` seconds.
    """
    seconds: list[float] = []
    errors = 0
    first_error: str | None = None
    deadline = time.monotonic() + time_limit
    for index in range(count):
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {index} of {count} calls within {time_limit:.0f} s")
        start = time.perf_counter()
        try:
            error = call(index)
        except Exception as exception:
            error = repr(exception)
        elapsed = time.perf_counter() - start
        if error is None:
            seconds.append(elapsed)
        else:
            errors += 1
            first_error = first_error or error
    return Latency.of(seconds, errors, first_error)
