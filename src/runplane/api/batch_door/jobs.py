"""Checking a batch's jobs at submission, with iVvy's codes (24092, 24093) and our limit."""

from __future__ import annotations

from typing import Any

from runplane.api.batch_door.envelope import (
    EMPTY_JOB_PARAMETER,
    INCORRECT_JOB_FORMAT,
    TOO_MANY_JOBS,
    BatchError,
)
from runplane.model.batches import Job

JOB_KEYS = ("namespace", "action", "params")
NAME_MAX_CHARS = 128
# How many problems an error lists before it stops.
MESSAGES_SHOWN = 10


def _format_problem(index: int, job: Any) -> str | None:
    where = f"jobs[{index}]"
    if not isinstance(job, dict):
        return f"{where}: a job must be an object with namespace, action and params."
    missing = [key for key in JOB_KEYS if key not in job]
    if missing:
        return f"{where}: missing {', '.join(missing)}."
    for key in ("namespace", "action"):
        value = job[key]
        if not isinstance(value, str) or not value.strip():
            return f"{where}.{key}: must be a non-empty string."
        if len(value) > NAME_MAX_CHARS:
            return f"{where}.{key}: at most {NAME_MAX_CHARS} characters."
    if not isinstance(job["params"], dict):
        return f"{where}.params: must be an object."
    return None


def is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and len(value) == 0)


def _empty_problem(index: int, params: dict[str, Any]) -> str | None:
    if not params:
        return f"jobs[{index}].params: is empty."
    for name, value in params.items():
        if is_empty(value):
            return f"jobs[{index}].params.{name}: is empty."
    return None


def _raise_if(problems: list[str], status: int, message: str, code: int) -> None:
    if problems:
        shown = problems[:MESSAGES_SHOWN]
        if len(problems) > MESSAGES_SHOWN:
            shown.append(f"... and {len(problems) - MESSAGES_SHOWN} more.")
        raise BatchError(status, message, code, shown)


def parse_jobs(body: dict[str, Any], max_jobs: int) -> list[Job]:
    """The jobs of a run request, or BatchError: format first (24092), then emptiness (24093)."""
    jobs = body.get("jobs")
    if "jobs" not in body:
        _raise_if(["jobs: required."], 400, "Incorrect Job Format", INCORRECT_JOB_FORMAT)
    if not isinstance(jobs, list) or not jobs:
        _raise_if(["jobs: must be a non-empty array of jobs."], 400, "Incorrect Job Format",
                  INCORRECT_JOB_FORMAT)
    assert isinstance(jobs, list)
    if len(jobs) > max_jobs:
        raise BatchError(400, f"Too many jobs: at most {max_jobs} in one batch.",
                         TOO_MANY_JOBS, [f"jobs: {len(jobs)} given."])
    format_problems = [p for i, job in enumerate(jobs) if (p := _format_problem(i, job))]
    _raise_if(format_problems, 400, "Incorrect Job Format", INCORRECT_JOB_FORMAT)
    empty = [p for i, job in enumerate(jobs) if (p := _empty_problem(i, job["params"]))]
    _raise_if(empty, 400, "Empty job parameter found", EMPTY_JOB_PARAMETER)
    return [Job(job["namespace"].strip(), job["action"].strip(), job["params"]) for job in jobs]
