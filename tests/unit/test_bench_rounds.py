"""bench/rounds.py: several rounds of the benchmark's rows combined into one per row."""

from __future__ import annotations

from typing import Any

from bench.rounds import combine


def row(p50: float, runs_per_s: float, errors: int = 0) -> dict[str, Any]:
    return {"available": True, "error": False,
            "sync": {"p50_ms": p50, "p99_ms": p50 * 2, "errors": errors},
            "async": {"runs_per_s": runs_per_s, "failures": 0},
            "memory": {"runs": 10_000}}


def test_each_figure_is_the_median_of_its_rounds_and_errors_add_up() -> None:
    rounds = [{"fork": row(5.0, 300, errors=1)}, {"fork": row(9.0, 100)},
              {"fork": row(6.0, 250, errors=2)}]
    fork = combine(rounds)["fork"]
    assert (fork["sync"]["p50_ms"], fork["sync"]["p99_ms"]) == (6.0, 12.0)
    assert fork["async"]["runs_per_s"] == 250
    assert fork["sync"]["errors"] == 3
    assert fork["memory"] == {"runs": 10_000}  # the first round's
    assert [item["async_runs_per_s"] for item in fork["rounds"]] == [300, 100, 250]


def test_a_failed_round_is_what_the_row_reports() -> None:
    failed = {"available": False, "error": True, "reason": "server died"}
    combined = combine([{"fork": row(5.0, 300)}, {"fork": failed}])
    assert combined["fork"] == failed


def test_a_row_unavailable_everywhere_stays_unavailable() -> None:
    missing = {"available": False, "reason": "no Redis"}
    assert combine([{"celery": missing}, {"celery": missing}])["celery"] == missing
