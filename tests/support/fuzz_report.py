"""The fuzzer's report: inputs tried and 5xx seen, summed over the run's fuzz tests.

Each fuzz test records its tally as the user property `fuzz_tally` (tests/fuzz/tally.py);
reports carry user properties from xdist workers to the controller, which prints one line
per tally and the totals at the end of the run and writes them as JSON to
$RUNPLANE_FUZZ_REPORT (default bench/results/fuzz.json, ignored by git).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

PROPERTY = "fuzz_tally"
_tallies: list[dict[str, Any]] = []


def collect(report: pytest.TestReport) -> None:
    if report.when == "call":
        _tallies.extend(value for name, value in report.user_properties if name == PROPERTY)


def summarize(terminal: Any, config: pytest.Config) -> None:
    if not _tallies or hasattr(config, "workerinput"):
        return
    totals = {
        "inputs_tried": sum(item["inputs_tried"] for item in _tallies),
        "server_errors": sum(item["server_errors"] for item in _tallies),
        "envelope_errors": sum(item["envelope_errors"] for item in _tallies),
    }
    terminal.section("fuzz")
    for item in sorted(_tallies, key=lambda item: (item["suite"], item["database"])):
        terminal.write_line(
            f"{item['suite']} on {item['database']}: {item['inputs_tried']} inputs, "
            f"{item['server_errors']} 5xx, {item['envelope_errors']} outside the envelope, "
            f"{item['seconds']} s (budget {item['budget']})"
        )
    terminal.write_line(
        f"fuzz total: {totals['inputs_tried']} inputs tried, {totals['server_errors']} 5xx "
        f"seen, {totals['envelope_errors']} errors outside their door's envelope"
    )
    path = Path(os.environ.get("RUNPLANE_FUZZ_REPORT")
                or config.rootpath / "bench" / "results" / "fuzz.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**totals, "runs": _tallies}, indent=2) + "\n")
    terminal.write_line(f"fuzz report: {path}")
