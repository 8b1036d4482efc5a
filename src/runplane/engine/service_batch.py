"""Performing several targets of one service run in one process, in turn.

When a python snippet service has more targets waiting than the worker has free slots, a
claim gives a slot a group of them (store/claims.py): one child process then runs the
snippet over each target in turn, each in a fresh namespace with its own `results`, logs,
output and timeout (engine/python_child.py, snippet_batch mode). A fork costs about as much
as a trivial snippet's whole run, so a group of N costs one fork instead of N.

Every target still gets its own result. If the process dies partway (os._exit, a crash, the
memory limit taken by the interpreter itself, the watchdog), the target it was running fails
with the reason, and the targets it never began go back to the queue unspent; a process that
began none fails them all (it would fail again).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from runplane.core.services import PYTHON_SNIPPET
from runplane.engine.execution import BatchOutcome, ExecutionRequest, ExecutionResult, Outcome
from runplane.engine.performers import WorkerContext
from runplane.engine.script_performer import CONTROL_KEYS, internal_failure, limits
from runplane.engine.service_performer import meta_of, snippet_result, timeout_of
from runplane.model import ClaimedTask, TaskResult
from runplane.settings import Settings

# Service types whose targets may share a process.
BATCHED_SERVICE_TYPES = (PYTHON_SNIPPET,)
DIED_RUNNING = "runplane: the process running this target ended before it did"


def batch_request(group: list[ClaimedTask], settings: Settings) -> ExecutionRequest:
    """One execution of the group's snippet over each of its targets (one run's tasks)."""
    first = group[0]
    service = first.service
    assert service is not None and all(task.run_id == first.run_id for task in group)
    config = {key: value for key, value in first.instance_config.items()
              if key not in CONTROL_KEYS}
    base = {key: value for key, value in meta_of(first, service).items()
            if key not in ("target", "attempt")}
    return ExecutionRequest(
        runtime="python3", source=service.source_code, args=first.payload, config=config,
        meta=base, limits=limits(settings, timeout_of(service, settings)),
        mode="snippet_batch",
        context={"payload": first.payload, "targets": [
            {"device": task.target_data,
             "meta": {"target": task.target, "attempt": task.attempt}}
            for task in group
        ]},
    )


async def perform_service_targets(context: WorkerContext, group: list[ClaimedTask]
                                  ) -> list[TaskResult | None]:
    """A result per task of `group`, in order; None for a task to give back (never begun)."""
    if group[0].service is None:
        return [internal_failure("runplane: the service of this run no longer exists.")
                for _ in group]
    executed = await context.executor.execute(batch_request(group, context.core.settings))
    outcome = executed.value if isinstance(executed.value, BatchOutcome) else None
    return target_results(executed, outcome, len(group))


def target_results(executed: ExecutionResult, outcome: BatchOutcome | None, count: int
                   ) -> list[TaskResult | None]:
    finished = outcome.finished if outcome is not None else []
    begun = outcome.begun if outcome is not None else 0
    results: list[TaskResult | None] = []
    offset = timedelta(0)
    for index in range(count):
        if index < len(finished):
            line = finished[index]
            result = _from_line(executed, line, offset)
            offset += timedelta(milliseconds=result.duration_ms)
        elif index < begun or begun == 0:
            result = _died(executed)  # it was running; or nothing began: all fail alike
        else:
            result = None  # never begun: back to the queue, its attempt unspent
        results.append(result)
    return results


def _from_line(executed: ExecutionResult, line: dict[str, Any], offset: timedelta
               ) -> TaskResult:
    """One target's result from its line, as a single snippet run's would be."""
    started_at = executed.started_at + offset
    duration = int(line.get("duration_ms") or 0)
    status: Outcome = "failure"
    if line.get("status") in ("success", "timeout"):
        status = line["status"]
    alone = replace(
        executed, outcome=status, exit_code=line.get("exit_code"),
        stdout=str(line.get("stdout") or ""), stderr=str(line.get("stderr") or ""),
        truncated=bool(line.get("truncated")), started_at=started_at,
        finished_at=started_at + timedelta(milliseconds=duration), duration_ms=duration,
        error=line.get("error"), value=None,
    )
    return snippet_result(alone, line)


def _died(executed: ExecutionResult) -> TaskResult:
    error = executed.error or DIED_RUNNING
    status: Outcome = executed.outcome if executed.outcome != "success" else "failure"
    alone = replace(executed, outcome=status, error=error, value=None)
    return snippet_result(alone, None)
