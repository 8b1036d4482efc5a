"""Several rounds of the same rows, combined into one result per row.

On a shared virtual machine the speed can halve between one row and the next (Celery measured
while a noisy neighbour runs, runplane while it sleeps), which skews the side-by-side ratios.
With `--rounds N` every row is measured N times, the rows taking turns, and each figure is the
median of its rounds; every round's figures stay in the JSON (`rounds`).
"""

from __future__ import annotations

import copy
import statistics
from typing import Any

# The figures that are combined: the median of the rounds, per row.
SYNC_FIGURES = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "max_ms")
ASYNC_FIGURES = ("runs_per_s", "seconds", "submit_seconds")
SUMMED = ("errors", "failures")


def combine(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One result per row: the first round's, with the median of each timed figure over the
    rounds where the row was measured, errors summed, and `rounds` listing each round's."""
    combined: dict[str, Any] = {}
    for row in rounds[0]:
        measured = [results[row] for results in rounds if results.get(row, {}).get("available")]
        failed = [results[row] for results in rounds if results.get(row, {}).get("error")]
        if failed or not measured:
            combined[row] = (failed or [rounds[0][row]])[0]  # a failure is never hidden
            continue
        base = copy.deepcopy(measured[0])
        for part, figures in (("sync", SYNC_FIGURES), ("async", ASYNC_FIGURES)):
            if part not in base:
                continue
            for figure in figures:
                values = [result[part][figure] for result in measured
                          if result[part].get(figure) is not None]
                if values:
                    base[part][figure] = round(statistics.median(values), 3)
            for figure in SUMMED:
                if figure in base[part]:
                    base[part][figure] = sum(result[part].get(figure, 0) for result in measured)
        base["rounds"] = [
            {"sync_p50_ms": result.get("sync", {}).get("p50_ms"),
             "sync_p99_ms": result.get("sync", {}).get("p99_ms"),
             "async_runs_per_s": result.get("async", {}).get("runs_per_s")}
            for result in measured
        ]
        combined[row] = base
    return combined
