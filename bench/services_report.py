"""bench/services.py's report: its figures against the service door issue's targets, and the
tables it prints."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

FAN_OUT_SECONDS = 10.0
FAN_OUT_RATE = 1000.0
SYNC_GAP_MS = 2.0


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for executor, measured in results.items():
        if not measured.get("available"):
            continue
        fan_out = measured.get("fan_out")
        if fan_out:
            seconds = None if fan_out["stopped_at_time_limit"] else fan_out["seconds"]
            rows.append(check(f"{executor}: {fan_out['devices']:,} targets in <= "
                              f"{FAN_OUT_SECONDS:g} s", seconds, "<=", FAN_OUT_SECONDS, "s"))
            rows.append(check(f"{executor}: >= {FAN_OUT_RATE:,.0f} targets/s",
                              fan_out["targets_per_s"], ">=", FAN_OUT_RATE, "targets/s"))
        if "sync" in measured:
            rows.append(check(f"{executor}: sync p50 within {SYNC_GAP_MS:g} ms of the script "
                              "door", measured["sync"]["p50_gap_ms"], "<=", SYNC_GAP_MS, "ms"))
    return rows


def check(name: str, value: float | None, op: str, limit: float, unit: str) -> dict[str, Any]:
    if value is None:
        status = "missed"  # stopped at the time limit: it did not finish at all
    else:
        status = "met" if (value <= limit if op == "<=" else value >= limit) else "missed"
    return {"target": name, "measured": value, "unit": unit, "status": status}


def figure(value: Any, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def print_report(results: dict[str, Any], checks: list[dict[str, Any]], console: Console
                 ) -> None:
    table = Table(title="runplane service door: fan-out and sync run_service")
    for column in ("executor", "fan-out s", "targets/s", "finished", "server CPU s",
                   "machine busy %", "service p50/p90/p99 ms", "script p50/p90/p99 ms",
                   "p50 gap ms"):
        table.add_column(column, justify="left" if column == "executor" else "right")
    for executor, measured in results.items():
        if not measured.get("available"):
            table.add_row(executor, "[red]unavailable[/]", measured.get("reason", "")[:60])
            continue
        fan_out = measured.get("fan_out") or {}
        sync = measured.get("sync") or {}

        def triple(door: str, sync: dict[str, Any] = sync) -> str:
            if door not in sync:
                return "-"
            return "/".join(figure(sync[door][key], 1) for key in ("p50_ms", "p90_ms", "p99_ms"))

        stop_note = " (stopped)" if fan_out.get("stopped_at_time_limit") else ""
        table.add_row(
            executor, figure(fan_out.get("seconds"), 1) + stop_note,
            figure(fan_out.get("targets_per_s"), 1),
            f"{fan_out.get('finished', 0):,}/{fan_out.get('devices', 0):,}",
            figure(fan_out.get("server_cpu_seconds"), 1),
            figure(fan_out.get("machine_cpu_busy_percent"), 0),
            triple("service_door"), triple("script_door"), figure(sync.get("p50_gap_ms"), 2),
        )
    console.print(table)
    colours = {"met": "green", "missed": "red"}
    goals = Table(title="targets (service door issue)")
    for column in ("target", "measured", "status"):
        goals.add_column(column)
    for row in checks:
        goals.add_row(row["target"], figure(row["measured"]),
                      f"[{colours[row['status']]}]{row['status']}[/]")
    console.print(goals)
    for executor, measured in results.items():
        profile = (measured.get("fan_out") or {}).get("profile")
        if profile:
            console.print(f"[bold]{executor}[/] py-spy, {profile['samples']:,} samples; "
                          "own time:")
            for row in profile["own"][:10]:
                console.print(f"  {row['percent']:5.1f}%  {row['function']}")
            console.print("  inclusive, runplane's functions:")
            for row in profile["runplane_inclusive"][:10]:
                console.print(f"  {row['percent']:5.1f}%  {row['function']}")
