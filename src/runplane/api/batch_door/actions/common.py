"""What several namespaces share: waiting for a run a job started, and list windows."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from runplane.api.batch_door.actions.registry import Params
from runplane.api.batch_door.envelope import JOB_RUN_TOO_SLOW, BatchError
from runplane.core.job_set import JobContext
from runplane.core.runs import run_exists, wait_for_run
from runplane.errors import NotFound
from runplane.model import Run

LIST_MAX = 1000


class ListParams(Params):
    """A window of a list. iVvy refuses empty params, so a full list is e.g. {"perPage": 100}."""

    perPage: int = Field(default=100, ge=1, le=LIST_MAX)  # iVvy spells it so
    start: int = Field(default=0, ge=0)
    filters: dict[str, str] = Field(default_factory=dict)


def window(items: list[Any], params: ListParams) -> dict[str, Any]:
    """iVvy's list answer: `meta` (totalResults, start, perPage, count) and `results`."""
    chosen = items[params.start:params.start + params.perPage]
    return {
        "meta": {"totalResults": len(items), "start": params.start,
                 "perPage": params.perPage, "count": len(chosen)},
        "results": chosen,
    }


async def finished_run(context: JobContext, run_id: int) -> Run:
    """The run once ended; a job waits at most batch_job_wait_seconds for it."""
    limit = context.core.settings.batch_job_wait_seconds
    finished = await wait_for_run(context.core, run_id, limit)
    if finished is None:
        if not await run_exists(context.core, run_id):
            raise run_gone(run_id)
        raise BatchError(504, f"The run did not end within {limit:g} s.", JOB_RUN_TOO_SLOW,
                         [f"runId: {run_id}"])
    return finished


def run_gone(run_id: int) -> NotFound:
    return NotFound("Run", f"The run {run_id} this job started no longer exists.")
