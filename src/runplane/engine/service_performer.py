"""Performing one target of a service run: a snippet, a shell command or a script."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from runplane.core.services import PYTHON_SNIPPET, SCRIPT_SERVICE, SHELL_COMMAND
from runplane.engine.execution import ExecutionRequest, ExecutionResult
from runplane.engine.performers import WorkerContext
from runplane.engine.script_performer import (
    CONTROL_KEYS,
    internal_failure,
    limits,
    script_timeout,
    task_result,
)
from runplane.model import FAILURE, RESULT_NOT_SET, SUCCESS, ClaimedTask, ServiceSpec, TaskResult
from runplane.settings import Settings


def timeout_of(service: ServiceSpec, settings: Settings) -> float:
    wanted = service.timeout if service.timeout else settings.script_timeout
    return min(wanted, settings.script_timeout_max)


def meta_of(task: ClaimedTask, service: ServiceSpec) -> dict[str, Any]:
    return {
        **task.meta, "executed_by": "service", "service": service.name,
        "instance": task.instance_name, "target": task.target, "attempt": task.attempt,
    }


def build_request(task: ClaimedTask, settings: Settings) -> ExecutionRequest | str:
    """The execution of this target, or why there is none."""
    service = task.service
    if service is None:
        return "runplane: the service of this run no longer exists."
    config = {key: value for key, value in task.instance_config.items() if key not in CONTROL_KEYS}
    device = task.target_data
    meta = meta_of(task, service)
    if service.type == PYTHON_SNIPPET:
        return ExecutionRequest(
            runtime="python3", source=service.source_code, args=task.payload, config=config,
            meta=meta, limits=limits(settings, timeout_of(service, settings)), mode="snippet",
            context={"device": device, "payload": task.payload},
        )
    if service.type == SHELL_COMMAND:
        # The command reads {"device": ..., "payload": ...} as JSON on stdin.
        return ExecutionRequest(
            runtime="shell", source=service.command,
            args={"device": device, "payload": task.payload}, config=config, meta=meta,
            limits=limits(settings, timeout_of(service, settings)),
        )
    if service.type == SCRIPT_SERVICE:
        script = task.script
        if script is None:
            return "runplane: the script of this service no longer exists."
        merged = {**config, **script.config}
        timeout = timeout_of(service, settings) if service.timeout else script_timeout(
            script.config, settings.script_timeout, settings.script_timeout_max
        )
        return ExecutionRequest(
            runtime=script.runtime_name, source=script.source, args=task.payload,
            config={key: value for key, value in merged.items() if key not in CONTROL_KEYS},
            meta={**meta, "device": device}, limits=limits(settings, timeout),
        )
    return f"runplane: unknown service type {service.type!r}."


def _log_lines(value: Any) -> list[dict[str, Any]]:
    lines = value.get("logs") if isinstance(value, dict) else None
    if not isinstance(lines, list):
        return []
    converted = []
    for line in lines:
        if not isinstance(line, dict):
            continue
        at = None
        if isinstance(line.get("time"), str):
            try:
                at = datetime.fromisoformat(line["time"])
            except ValueError:
                at = None
        converted.append({
            "severity": str(line.get("severity", "info")),
            "message": str(line.get("message", "")),
            "at": at if at is not None and at.tzinfo is not None else None,
        })
    return converted


async def perform_service_target(context: WorkerContext, task: ClaimedTask) -> TaskResult:
    request = build_request(task, context.core.settings)
    if isinstance(request, str):
        return internal_failure(request)
    executed = await context.executor.execute(request)
    if request.mode != "snippet":
        return task_result(executed)
    return snippet_result(executed, executed.value)


def snippet_result(executed: ExecutionResult, value: Any) -> TaskResult:
    """A snippet's task result: it succeeded if it ran through and set a truthy `results`
    (without `results["success"]` false); its logs and results are kept."""
    value = value if isinstance(value, dict) else {}
    results = value.get("results") if isinstance(value.get("results"), dict) else {}
    status: str = executed.outcome
    error = executed.error
    if status == SUCCESS and not results:
        status, error = FAILURE, RESULT_NOT_SET
    elif status == SUCCESS and not results.get("success", True):
        status = FAILURE
    outcome = task_result(executed, value={"results": results}, status=status)
    return replace(outcome, error=error, logs=_log_lines(value))
