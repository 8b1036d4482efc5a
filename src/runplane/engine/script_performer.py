"""Performing a script run's task: one execution of the script with ARGS, CONFIG, META."""

from __future__ import annotations

from typing import Any

from runplane.clock import utcnow
from runplane.engine.execution import ExecutionRequest, ExecutionResult, Limits
from runplane.engine.performers import WorkerContext
from runplane.model import FAILURE, ClaimedTask, TaskResult
from runplane.settings import Settings

# Keys of CONFIG that steer runplane rather than the script; the script does not see them.
CONTROL_KEYS = ("timeout", "allow_full_access")


def script_timeout(script_config: dict[str, Any], default: float, maximum: float) -> float:
    """A script's `config.timeout` (seconds) if it is a positive number, capped at `maximum`."""
    wanted = script_config.get("timeout")
    if isinstance(wanted, int | float) and not isinstance(wanted, bool) and wanted > 0:
        return min(float(wanted), maximum)
    return min(default, maximum)


def limits(settings: Settings, timeout_seconds: float) -> Limits:
    return Limits(
        timeout_seconds=timeout_seconds,
        memory_bytes=settings.script_memory_bytes,
        output_bytes=settings.output_limit,
        file_size_bytes=settings.file_size_limit,
        open_files=settings.open_files_limit,
    )


def execution_request(task: ClaimedTask, settings: Settings) -> ExecutionRequest:
    assert task.script is not None, "a script run always has its script"
    script = task.script
    merged = {**task.instance_config, **script.config}
    return ExecutionRequest(
        runtime=script.runtime_name,
        source=script.source,
        args=task.payload,
        config={key: value for key, value in merged.items() if key not in CONTROL_KEYS},
        meta={**task.meta, "attempt": task.attempt},
        limits=limits(
            settings,
            script_timeout(script.config, settings.script_timeout, settings.script_timeout_max),
        ),
    )


def task_result(result: ExecutionResult, value: Any = None, status: str | None = None
                ) -> TaskResult:
    return TaskResult(
        status=status or result.outcome,
        exit_code=result.exit_code,
        stdout=result.stdout,
        stderr=result.stderr,
        output_truncated=result.truncated,
        started_at=result.started_at,
        finished_at=result.finished_at,
        duration_ms=result.duration_ms,
        error=result.error,
        value=value,
    )


def internal_failure(message: str) -> TaskResult:
    now = utcnow()
    return TaskResult(
        status=FAILURE, exit_code=None, stdout="", stderr=message, output_truncated=False,
        started_at=now, finished_at=now, duration_ms=0, error=message,
    )


async def perform_script(context: WorkerContext, task: ClaimedTask) -> TaskResult:
    if task.script is None:
        return internal_failure("runplane: the script of this run no longer exists.")
    request = execution_request(task, context.core.settings)
    return task_result(await context.executor.execute(request))
