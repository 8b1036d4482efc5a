"""Which performer carries out a run of each kind: built here, in one place, when a worker
is wired (engine/runner.py), from the performer modules it imports."""

from __future__ import annotations

from runplane.engine.batch_performer import perform_batch
from runplane.engine.performers import Performer, Performers
from runplane.engine.script_performer import perform_script
from runplane.engine.service_performer import perform_service_target
from runplane.model import RunKind


def performers_by_kind() -> Performers:
    """Every run kind's performer (a kind without one is a bug: checked here, not per task)."""
    registry: dict[str, Performer] = {
        RunKind.SCRIPT: perform_script,
        RunKind.SERVICE: perform_service_target,
        RunKind.BATCH: perform_batch,
    }
    missing = set(RunKind) - registry.keys()
    assert not missing, f"no performer for runs of kind(s) {sorted(missing)}"
    return registry
