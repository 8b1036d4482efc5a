"""Old against new: one benchmark run in two checkouts by turns, its figures side by side.

    .venv/bin/python -m bench.ab --old ../old-checkout [--new .] [--rounds 3] \\
        [--figures REGEX] -- run --executors fork --runs-for-memory 2000

Each round runs `python -m bench.<name> ARGS --out <tmp>.json` in the old checkout, then in
the new one (each with its own `.venv`), so a slow spell of the shared machine falls on both
sides alike. Every numeric figure of the JSON files is kept; the table shows the median of the
rounds of each side and new/old for the figures that match `--figures` (by default, latencies,
rates, seconds and memory). `--smoke` is a few seconds: the benchmark's own smoke mode, one
round, to see that the comparison runs.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

DEFAULT_FIGURES = r"(p50|p90|p99|mean)_ms$|per_s$|_s$|seconds$|rss_mb$"
# Figures about the machine or the plan, not about the code measured.
IGNORED = re.compile(
    r"^(machine|plan|quick|smoke)\.|\.(calls|runs|errors|failures)$|target|_(min|max)_s$")


def leaves(value: Any, path: str = "") -> dict[str, float]:
    """Every number in a JSON document, by its dotted path (list items by index)."""
    found: dict[str, float] = {}
    if isinstance(value, bool):
        return found
    if isinstance(value, int | float):
        return {path: float(value)}
    items = value.items() if isinstance(value, dict) else (
        enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        found.update(leaves(item, f"{path}.{key}" if path else str(key)))
    return found


def run_once(checkout: Path, bench: str, args: list[str], out: Path) -> dict[str, float]:
    python = checkout / ".venv" / "bin" / "python"
    command = [str(python), "-m", f"bench.{bench}", *args, "--out", str(out)]
    print(f"== {checkout}: {' '.join(command[1:])}", flush=True)
    subprocess.run(command, cwd=checkout, check=True, stdout=subprocess.DEVNULL)
    return leaves(json.loads(out.read_text()))


def median_of(rounds: list[dict[str, float]], name: str) -> float | None:
    values = [figures[name] for figures in rounds if name in figures]
    return statistics.median(values) if values else None


def compare(old: list[dict[str, float]], new: list[dict[str, float]], pattern: str
            ) -> list[dict[str, Any]]:
    chosen = re.compile(pattern)
    names = sorted({name for figures in old + new for name in figures})
    rows = []
    for name in names:
        if IGNORED.search(name) or not chosen.search(name):
            continue
        before, after = median_of(old, name), median_of(new, name)
        ratio = after / before if before and after is not None else None
        rows.append({"figure": name, "old": before, "new": after, "new_over_old": ratio})
    return rows


def show(rows: list[dict[str, Any]], rounds: int) -> None:
    table = Table(title=f"old against new: medians of {rounds} round(s) each, by turns")
    for column in ("figure", "old", "new", "new / old"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for row in rows:
        cells = [f"{row[key]:.3f}" if row[key] is not None else "-"
                 for key in ("old", "new", "new_over_old")]
        table.add_row(row["figure"], *cells)
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", type=Path, required=True, help="the old checkout")
    parser.add_argument("--new", type=Path, default=Path("."), help="the new one (here)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--figures", default=DEFAULT_FIGURES, help="regex of figures shown")
    parser.add_argument("--smoke", action="store_true", help="one round of the smoke mode")
    parser.add_argument("--out", type=Path, default=Path("bench/results/ab.json"))
    parser.add_argument("bench", help="the benchmark: run, services, batch, ...")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")
    options = parser.parse_args(argv)
    args = [arg for arg in options.args if arg != "--"]
    rounds = 1 if options.smoke else options.rounds
    if options.smoke:
        args.append("--smoke")
    old: list[dict[str, float]] = []
    new: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="runplane-ab-") as scratch:
        for number in range(rounds):
            for side, checkout, kept in (("old", options.old, old), ("new", options.new, new)):
                out = Path(scratch) / f"{side}-{number}.json"
                kept.append(run_once(checkout.resolve(), options.bench, args, out))
    rows = compare(old, new, options.figures)
    show(rows, rounds)
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps({
        "bench": options.bench, "args": args, "rounds": rounds, "figures": rows,
        "old_rounds": old, "new_rounds": new,
    }, indent=1))
    print(f"written to {options.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
