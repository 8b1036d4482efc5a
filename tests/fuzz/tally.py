"""Counting what the fuzzer tried and what it saw, for the run's report (see report.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Tally:
    suite: str
    database: str
    budget: int
    inputs_tried: int = 0
    server_errors: int = 0
    envelope_errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def count(self, status: int, problem: str | None) -> None:
        self.inputs_tried += 1
        key = f"{status // 100}xx"
        self.statuses[key] = self.statuses.get(key, 0) + 1
        if status >= 500:
            self.server_errors += 1
        elif problem is not None:
            self.envelope_errors += 1

    def as_record(self) -> dict[str, Any]:
        return {
            "suite": self.suite, "database": self.database, "budget": self.budget,
            "inputs_tried": self.inputs_tried, "server_errors": self.server_errors,
            "envelope_errors": self.envelope_errors,
            "statuses": dict(sorted(self.statuses.items())),
            "seconds": round(time.monotonic() - self.started, 1),
        }
