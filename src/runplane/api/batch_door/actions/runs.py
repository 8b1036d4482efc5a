"""The `run` namespace: get, stop, result of any run, by its runtime string or its id."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from runplane.api.batch_door.actions.registry import Action, Params
from runplane.api.dialects import enms, enms_runs
from runplane.api.dialects.syncano import trace_result
from runplane.clock import iso_z
from runplane.core import service_runs
from runplane.core.access import Role, require
from runplane.core.job_set import JobContext
from runplane.core.runs import run_of
from runplane.errors import NotFound
from runplane.model import SERVICE_RUN, SUCCESS, Run


class RunRef(Params):
    """`{"runtime": "..."}` (service runs) or `{"id": N}` (any run; a script.run answers it
    as `runId`)."""

    runtime: str | None = None
    id: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def one_of(self) -> RunRef:
        if (self.runtime is None) == (self.id is None):
            raise ValueError("give either runtime or id")
        return self


async def _find(context: JobContext, ref: RunRef, role: Role) -> Run:
    require(context.key, role, context.instance)
    found = await run_of(context.core, context.instance, run_id=ref.id, runtime=ref.runtime)
    if found is None:
        raise NotFound("Run", f"No run {ref.runtime or ref.id} in this instance.")
    return found


def describe(run: Run) -> dict[str, Any]:
    return {
        "id": run.id, "kind": run.kind, "runtime": run.runtime, "status": run.status,
        "success": run.status == SUCCESS if run.is_final else None,
        "trace": run.number, "createdAt": iso_z(run.created_at),
        "startedAt": iso_z(run.started_at), "finishedAt": iso_z(run.finished_at),
        "durationMs": run.duration_ms, "tasksTotal": run.tasks_total,
        "tasksDone": run.tasks_done, "tasksFailed": run.tasks_failed, "error": run.error,
    }


async def get(context: JobContext, params: RunRef) -> dict[str, Any]:
    return describe(await _find(context, params, Role.read))


async def result(context: JobContext, params: RunRef) -> dict[str, Any]:
    """A service run's summary (as /rest/result), or a single-task run's output."""
    found = await _find(context, params, Role.read)
    status = enms.status_name(found.status)
    if not found.is_final:
        return {"status": status, "result": enms.NO_RESULTS_YET}
    if found.kind == SERVICE_RUN:
        return {"status": status, "result": await enms_runs.summarize(context.core, found)}
    if found.output is None:  # a run without a first task to show
        return {"status": status, "result": {}}
    return {"status": status, "result": trace_result(found)}


async def stop(context: JobContext, params: RunRef) -> dict[str, Any]:
    found = await _find(context, params, Role.run)
    if found.is_final:
        return {**describe(found), "stopped": False, "message": enms.ALREADY_ENDED}
    stopped = await service_runs.stop_run(context.core, found)
    return {**describe(found), "stopped": True, "aborted": stopped.aborted,
            "stopping": stopped.stopping}


RUN_ACTIONS: dict[str, Action] = {
    "get": Action(RunRef, get),
    "result": Action(RunRef, result),
    "stop": Action(RunRef, stop, atomic=False),
}
