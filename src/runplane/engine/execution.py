"""What an executor is asked to run, and what it answers. Executors implement `Executor`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

Outcome = Literal["success", "failure", "timeout"]
# "script": Syncano-style, the output is what it prints.
# "snippet": eNMS-style python snippet over one target; it reports through `results`.
Mode = Literal["script", "snippet"]


@dataclass(frozen=True)
class Limits:
    timeout_seconds: float
    memory_bytes: int
    output_bytes: int
    file_size_bytes: int
    open_files: int


@dataclass(frozen=True)
class ExecutionRequest:
    runtime: str  # "python3" | "shell"
    source: str
    args: Any  # the payload: ARGS for python3, JSON on stdin for shell
    config: dict[str, Any]  # CONFIG: instance config merged with script config
    meta: dict[str, Any]  # META
    limits: Limits
    mode: Mode = "script"
    # Snippet mode: {"device": {...attributes...} | None, "payload": {...}}.
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExecutionResult:
    outcome: Outcome
    exit_code: int | None  # None when killed by a signal or never started
    stdout: str
    stderr: str
    truncated: bool  # the captured output was cut at limits.output_bytes
    started_at: datetime
    finished_at: datetime
    duration_ms: int
    # A runplane-side explanation (timeout, killed by signal, memory limit...), if any.
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # Snippet mode: {"results": {...}, "logs": [...], "variables": {...}} as the child left it;
    # None when the child wrote nothing (killed, crashed, timed out, or script mode).
    value: Any = None


class Executor(Protocol):
    runtimes: tuple[str, ...]

    async def start(self) -> None: ...

    async def execute(self, request: ExecutionRequest) -> ExecutionResult: ...

    async def close(self) -> None: ...
