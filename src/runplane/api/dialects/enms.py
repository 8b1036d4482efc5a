"""eNMS's words and shapes for service runs: statuses, durations, per-target results and
the summary of a finished run (run_service's synchronous answer, /rest/result's `result`).

Pure renderings of model records; the batch door's `service` and `run` actions answer in
the same shapes, so a batch sees what this door shows.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from runplane.core.services import as_fields
from runplane.model import (
    ABORTED,
    FINAL_STATUSES,
    RESULT_NOT_SET,
    SUCCESS,
    Run,
    Service,
    TargetOutcome,
)

NO_RESULTS_YET = "No results yet."
ALREADY_ENDED = "The run had already ended."


def service_fields(service: Service) -> dict[str, Any]:
    """The service as eNMS clients read it back (properties flattened beside the fields)."""
    body = {**service.properties, **as_fields(service), "name": service.name}
    body["script"] = body.pop("script_id")
    del body["properties"]
    return body


def status_name(status: str) -> str:
    """The run's status in eNMS's words."""
    if status == ABORTED:
        return "Aborted"
    return "Completed" if status in FINAL_STATUSES else "Running"


def duration_text(milliseconds: int | None) -> str:
    return str(timedelta(seconds=int((milliseconds or 0) / 1000)))


def target_result(outcome: TargetOutcome) -> dict[str, Any]:
    """One device's result as eNMS shows it: the snippet's `results`, or the command's."""
    success = outcome.status == SUCCESS
    if isinstance(outcome.result, dict) and "results" in outcome.result:
        results = dict(outcome.result["results"] or {})
        if not results and outcome.exit_code == 0:
            results = {"success": False, "result": {"error": RESULT_NOT_SET}}
        results["success"] = success
    else:
        results = {"success": success, "result": (outcome.stdout or "").rstrip("\n")}
    if not success:
        if outcome.error:
            results.setdefault("error", outcome.error)
        if outcome.stderr:
            results.setdefault("stderr", outcome.stderr)
    if outcome.exit_code is not None:
        results.setdefault("exit_code", outcome.exit_code)
    results["duration_ms"] = outcome.duration_ms
    return results


def summary(run: Run, outcomes: list[TargetOutcome], service: Service | None
            ) -> dict[str, Any]:
    """The seed's synchronous answer for a finished run (`service`: None if deleted since)."""
    succeeded: dict[str, list[str]] = {"success": [], "failure": []}
    devices: dict[str, Any] = {}
    once = [outcome for outcome in outcomes if outcome.target is None]
    for outcome in outcomes:
        if outcome.target is not None:
            devices[outcome.target] = target_result(outcome)
            succeeded["success" if outcome.status == SUCCESS else "failure"].append(
                outcome.target)
    answer: dict[str, Any] = {
        "runtime": run.runtime,
        "success": run.status == SUCCESS,
        "status": status_name(run.status),
        "summary": succeeded,
        "duration": duration_text(run.duration_ms),
        "trigger": "REST",
        "devices": devices,
        "errors": [],
        "payload": run.payload,
        "properties": (
            service_fields(service) if service else {"name": run.meta.get("service")}
        ),
    }
    if once:
        answer["result"] = target_result(once[0])
        targets = run.meta.get("targets", [])
        succeeded["success" if once[0].status == SUCCESS else "failure"].extend(targets)
    return answer


def still_running(run: Run, errors: list[str], service: Service | None, waited: float
                  ) -> dict[str, Any]:
    """run_service's synchronous answer when the run outlived the wait."""
    return {
        "errors": errors, "runtime": run.runtime, "status": "Running", "success": None,
        "result": f"{NO_RESULTS_YET} Still running after {waited:g} s: poll "
                  f"/rest/result/{service.name if service else ''}/{run.runtime}",
    }
