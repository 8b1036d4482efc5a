"""The table on the terminal, the targets of the Engine issue, and the JSON file."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROWS = ("fork", "spawn", "celery")
ISOLATION = {
    "fork": "process per run",
    "spawn": "process per run",
    "celery": "none (one long-lived process)",
}
MEMORY_RUNS = 10_000


def _get(results: dict[str, Any], row: str, *path: str) -> float | None:
    """A figure of a measured row, None if the row was not measured."""
    value: Any = results.get(row)
    if not value or not value.get("available"):
        return None
    for key in path:
        value = value[key]
    return float(value)


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return None if top is None or not bottom else top / bottom


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue: what was measured, and met / missed / n/a."""
    fork_p50 = _get(results, "fork", "sync", "p50_ms")
    fork_async = _get(results, "fork", "async", "runs_per_s")
    memory_runs = _get(results, "fork", "memory", "runs")
    rss_after = _get(results, "fork", "memory", "end", "rss_mb")
    rss_note = ""
    if memory_runs is not None and memory_runs < MEMORY_RUNS:
        rss_after = None  # too few runs to tell
        rss_note = (f"stopped {results['fork']['memory']['error']}"
                    if results["fork"]["memory"]["error"]
                    else f"only {int(memory_runs):,} runs measured (--runs-for-memory)")
    checks: list[tuple[str, float | None, str, float, str, str]] = [
        ("fork sync p50", fork_p50, "<=", 5, "ms", ""),
        ("fork sync p99", _get(results, "fork", "sync", "p99_ms"), "<=", 15, "ms", ""),
        ("fork async throughput", fork_async, ">=", 300, "runs/s", ""),
        (f"fork server RSS after {MEMORY_RUNS:,} runs", rss_after, "<=", 200, "MB", rss_note),
        ("spawn p50 / fork p50", _ratio(_get(results, "spawn", "sync", "p50_ms"), fork_p50),
         ">=", 4, "x", ""),
        ("fork p50 / celery p50", _ratio(fork_p50, _get(results, "celery", "sync", "p50_ms")),
         "<=", 2.5, "x", ""),
        ("fork async / celery async",
         _ratio(fork_async, _get(results, "celery", "async", "runs_per_s")), ">=", 0.5, "x", ""),
    ]
    rows = []
    for name, value, op, limit, unit, note in checks:
        if value is None or math.isnan(value):
            status = "n/a"
        else:
            status = "met" if (value <= limit if op == "<=" else value >= limit) else "missed"
        rows.append({"target": f"{name} {op} {limit:g} {unit}",
                     "measured": None if value is None else round(value, 2), "unit": unit,
                     "status": status, "note": note})
    return rows


def _figure(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def print_report(results: dict[str, Any], checks: list[dict[str, Any]],
                 console: Console) -> None:
    table = Table(title="runplane benchmark: a trivial python3 script (print(ARGS.get('n')))")
    for column in ("row", "sync p50 ms", "p90 ms", "p99 ms", "async runs/s", "peak RSS MB",
                   "RSS tree MB", "errors", "isolation"):
        table.add_column(column, justify="left" if column in ("row", "isolation") else "right")
    for row in ROWS:
        if row not in results:
            continue
        measured = results[row]
        if not measured.get("available"):
            state = "[red]failed[/]" if measured.get("error") else "[yellow]unavailable[/]"
            table.add_row(row, state, "", "", "", "", "", "", ISOLATION[row])
            continue
        errors = (measured["sync"]["errors"] + measured["async"]["failures"]
                  + measured.get("memory", {}).get("failures_of_extra_runs", 0))
        table.add_row(
            row, _figure(measured["sync"]["p50_ms"]), _figure(measured["sync"]["p90_ms"]),
            _figure(measured["sync"]["p99_ms"]), _figure(measured["async"]["runs_per_s"], 0),
            _figure(measured["peak_rss_mb"], 1),
            _figure(measured["memory"]["end"]["tree_rss_mb"], 1),
            f"[red]{errors}[/]" if errors else "0", ISOLATION[row],
        )
    console.print(table)
    for row in ROWS:
        measured = results.get(row, {})
        if measured and not measured.get("available"):
            state = "failed" if measured.get("error") else "unavailable"
            console.print(f"[yellow]{row} {state}[/]: {measured.get('reason')}")
        elif measured.get("memory", {}).get("error"):
            console.print(f"[red]{row} memory check stopped[/] {measured['memory']['error']}")

    colours = {"met": "green", "missed": "red", "n/a": "yellow"}
    goals = Table(title="targets (Engine issue)")
    for column in ("target", "measured", "status", "note"):
        goals.add_column(column)
    for check in checks:
        colour = colours[check["status"]]
        goals.add_row(check["target"], _figure(check["measured"]),
                      f"[{colour}]{check['status']}[/]", check["note"])
    console.print(goals)

    for row in ("fork", "spawn"):
        if results.get(row, {}).get("available"):
            split = results[row]["sync"]["split_p50_ms"]
            console.print(f"{row} sync, p50 of each part: {split['to_start']} ms request sent to "
                          f"script started, {split['run']} ms run, {split['to_answer']} ms "
                          f"script ended to answer read")
    fork = results.get("fork", {})
    if fork.get("available"):
        memory = fork["memory"]
        console.print(f"fork server RSS: {memory['after_warmup']['rss_mb']} MB after warm-up, "
                      f"{memory['end']['rss_mb']} MB after {memory['runs']:,} runs")


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
