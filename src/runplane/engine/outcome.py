"""Turning how a run's process ended into an ExecutionResult: outcome, exit code, explanation."""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runplane.clock import utcnow
from runplane.engine.capture import STDERR, STDOUT, CappedOutput
from runplane.engine.execution import ExecutionRequest, ExecutionResult, Limits, Outcome
from runplane.engine.python_child import MEMORY_ERROR_LINE
from runplane.engine.rundir import cpu_seconds


@dataclass(frozen=True)
class ProcessEnd:
    """What happened to the process, for turning into an ExecutionResult."""

    returncode: int | None  # subprocess convention: -N when killed by signal N
    timed_out: bool
    stdout: str
    stderr: str
    truncated: bool
    dropped_bytes: int
    value: Any = None
    # Set when runplane, not the script, ended the run (e.g. the fork server died).
    failure: str | None = None

    @classmethod
    def of(
        cls, returncode: int | None, timed_out: bool, output: CappedOutput, *,
        value: Any = None, failure: str | None = None,
    ) -> ProcessEnd:
        return cls(
            returncode=returncode, timed_out=timed_out, stdout=output.text(STDOUT),
            stderr=output.text(STDERR), truncated=output.truncated,
            dropped_bytes=output.dropped, value=value, failure=failure,
        )


def execution_result(
    request: ExecutionRequest, end: ProcessEnd, started_at: datetime, started: float
) -> ExecutionResult:
    outcome, exit_code, error, details = judge(request, end)
    stderr = end.stderr
    if end.truncated:
        stderr += f"\n[runplane: output truncated at {request.limits.output_bytes} bytes]"
        details["dropped_bytes"] = end.dropped_bytes
    return ExecutionResult(
        outcome=outcome,
        exit_code=exit_code,
        stdout=end.stdout,
        stderr=stderr,
        truncated=end.truncated,
        started_at=started_at,
        finished_at=utcnow(),
        duration_ms=elapsed_ms(started),
        error=error,
        details=details,
        value=end.value,
    )


def judge(
    request: ExecutionRequest, end: ProcessEnd
) -> tuple[Outcome, int | None, str | None, dict[str, Any]]:
    """Outcome, exit code, runplane's explanation and details for a finished process."""
    limits = request.limits
    if end.failure is not None:
        return "failure", None, end.failure, {}
    if end.timed_out:
        seconds = _number(limits.timeout_seconds)
        return "timeout", None, f"Script timed out after {seconds} s.", {}
    code = end.returncode
    if code is None:  # never reaped within the grace period
        return "failure", None, "Script did not exit after being killed.", {}
    if code == 0:
        return "success", 0, None, {}
    if code < 0:
        name = _signal_name(-code)
        return "failure", None, _signal_error(name, request), {"signal": name}
    if request.runtime == "python3" and MEMORY_ERROR_LINE in end.stderr:
        return "failure", code, f"Script exceeded its memory limit ({_mb(limits)} MB).", {}
    return "failure", code, None, {}


def not_started(error: str, started_at: datetime, started: float) -> ExecutionResult:
    return ExecutionResult(
        outcome="failure",
        exit_code=None,
        stdout="",
        stderr="",
        truncated=False,
        started_at=started_at,
        finished_at=utcnow(),
        duration_ms=elapsed_ms(started),
        error=error,
    )


def elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _signal_error(name: str, request: ExecutionRequest) -> str:
    limits = request.limits
    if name == "SIGXCPU":
        return f"Script exceeded its CPU time limit ({cpu_seconds(limits, request.batch_size)} s)."
    if name == "SIGXFSZ":
        return f"Script exceeded its file size limit ({limits.file_size_bytes} bytes)."
    return f"Script was killed by signal {name}."


def _mb(limits: Limits) -> str:
    return _number(limits.memory_bytes / (1024 * 1024))


def _number(value: float) -> str:
    # 30.0 -> "30", 0.5 -> "0.5", and no exponent notation for large values.
    return f"{value:.3f}".rstrip("0").rstrip(".")
