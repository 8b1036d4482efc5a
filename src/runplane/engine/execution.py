"""What an executor is asked to run, and what it answers. Executors implement `Executor`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

Outcome = Literal["success", "failure", "timeout"]
# "script": Syncano-style, the output is what it prints.
# "snippet": eNMS-style python snippet over one target; it reports through `results`.
# "snippet_batch": the same snippet over several targets in turn, in one process, each with
# its own namespace, results, output and timeout (`limits.timeout_seconds` is per target).
Mode = Literal["script", "snippet", "snippet_batch"]


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
    # Batch mode: {"payload": {...}, "targets": [{"device": {...}, "meta": {...}}, ...]}.
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def batch_size(self) -> int:
        return len(self.context.get("targets") or ()) if self.mode == "snippet_batch" else 1


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
    # Batch mode: a BatchOutcome.
    value: Any = None


@dataclass(frozen=True)
class BatchOutcome:
    """What a snippet batch's process left: an outcome per target it finished (in order),
    and how many it began (one more than finished: that one was running when it died)."""

    finished: list[dict[str, Any]]
    begun: int


class Executor(Protocol):
    runtimes: tuple[str, ...]

    async def start(self) -> None: ...

    async def execute(self, request: ExecutionRequest) -> ExecutionResult: ...

    def isolation(self) -> dict[str, Any]: ...

    async def close(self) -> None: ...
