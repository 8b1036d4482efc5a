"""Callback bodies, rendered from the records the outbox keeps.

A run's callback is runplane's own shape (the run, its output when it had one task, and a
success/failure summary of its targets for services); a batch's callback carries what the
batch door's `results` answers (iVvy's shape). Keys are in the order receivers have seen.
"""

from __future__ import annotations

from typing import Any

from runplane.clock import iso_z
from runplane.model import SUCCESS
from runplane.model.callbacks import BatchReport, CallbackRecord, Rendered, RunReport


def render(record: CallbackRecord) -> Any:
    """The body (as JSON values) of a callback reporting `record`."""
    if isinstance(record, RunReport):
        return run_body(record)
    if isinstance(record, BatchReport):
        return batch_body(record)
    assert isinstance(record, Rendered)
    return record.body


def run_body(report: RunReport) -> dict[str, Any]:
    body: dict[str, Any] = {
        "run": {
            "id": report.run_id, "kind": report.kind, "instance": report.instance,
            "status": report.status, "success": report.status == SUCCESS,
            "runtime": report.runtime, "script": report.script_number, "trace": report.number,
            "created_at": iso_z(report.created_at), "started_at": iso_z(report.started_at),
            "finished_at": iso_z(report.finished_at), "duration_ms": report.duration_ms,
            "tasks_total": report.tasks_total, "tasks_failed": report.tasks_failed,
            "error": report.error,
        },
    }
    output = report.output
    if output is not None:
        body["result"] = {
            "stdout": output.stdout or "", "stderr": output.stderr or "",
            "exit_code": output.exit_code, "truncated": output.output_truncated,
            "value": output.result,
        }
    if report.targets is not None:
        summary: dict[str, list[str]] = {"success": [], "failure": []}
        for item in report.targets:
            summary["success" if item.status == SUCCESS else "failure"].append(item.target)
        body["summary"] = summary
    return body


def batch_body(report: BatchReport) -> dict[str, Any]:
    return {
        "asyncId": report.async_id,
        "results": [
            {"namespace": job.namespace, "action": job.action, "request": job.params,
             "response": job.response}
            for job in report.jobs
        ],
    }
