"""eNMS's words and shapes for service runs: statuses, durations, per-target results and
the summary of a finished run (run_service's synchronous answer, /rest/result's `result`).

Pure renderings of model records; the batch door's `service` and `run` actions answer in
the same shapes, so a batch sees what this door shows.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from runplane.core.service_runs import RUNTIME_FORMAT
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
TRACEBACK_HEAD = "Traceback (most recent call last):"
# `ValueError: ` or `package.module.Error: ` before the exception's own text.
EXCEPTION_HEAD = re.compile(r"[A-Za-z_][\w.]*(: |$)")
NO_SUCH_RUN = ("There are no results or on-going services for the requested service and "
               "runtime.")


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


def exception_text(traceback: str) -> str | None:
    """`str(exc)` of the exception a printed traceback ends with (None: no traceback): the
    text after the last traceback's frames, without its `module.Type: ` prefix."""
    lines = traceback.rstrip("\n").split("\n")
    starts = [index for index, line in enumerate(lines) if line.startswith(TRACEBACK_HEAD)]
    if not starts:
        return None
    rest = lines[starts[-1] + 1:]
    while rest and (rest[0].startswith(" ") or not rest[0]):
        rest = rest[1:]  # the frames, indented
    text = "\n".join(rest)
    found = EXCEPTION_HEAD.match(text)
    return text[found.end():] if found else text


def _exception_result(outcome: TargetOutcome, partial: dict[str, Any]) -> dict[str, Any] | None:
    """eNMS's result of a snippet that raised (python_snippet.py's job): `step`, `error`
    (str(exc)), `result` (what `results` held) and `traceback`; None if it did not raise."""
    error = exception_text(outcome.stderr or "")
    if error is None:
        return None
    return {"step": "execute", "error": error, "result": partial,
            "traceback": (outcome.stderr or "").rstrip("\n") + "\n"}


def target_result(outcome: TargetOutcome, ended: datetime | None = None) -> dict[str, Any]:
    """One device's result as eNMS shows it: the snippet's `results`, or the command's,
    with eNMS's `device_target`, `runtime` (when it ended) and `duration` beside runplane's
    own keys (`ended`: the run's end, for an outcome that has no end of its own)."""
    success = outcome.status == SUCCESS
    if isinstance(outcome.result, dict) and "results" in outcome.result:
        results = dict(outcome.result["results"] or {})
        if not results and outcome.exit_code == 0:
            results = {"success": False, "result": {"error": RESULT_NOT_SET}}
        raised = None if success else _exception_result(outcome, results)
        if raised is not None:
            results = {"result": raised}
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
    finished = outcome.finished_at or ended
    enms_keys = {"device_target": outcome.target, "duration": duration_text(outcome.duration_ms),
            "runtime": finished.strftime(RUNTIME_FORMAT) if finished else None}
    return {**enms_keys, **results}


def summary(run: Run, outcomes: list[TargetOutcome], service: Service | None
            ) -> dict[str, Any]:
    """The seed's synchronous answer for a finished run (`service`: None if deleted since)."""
    # eNMS's summary also lists `discard`: devices a skip query dropped (runplane has none).
    succeeded: dict[str, list[str]] = {"success": [], "failure": [], "discard": []}
    devices: dict[str, Any] = {}
    once = [outcome for outcome in outcomes if outcome.target is None]
    for outcome in outcomes:
        if outcome.target is not None:
            devices[outcome.target] = target_result(outcome, run.finished_at)
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
        answer["result"] = target_result(once[0], run.finished_at)
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
