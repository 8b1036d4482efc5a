"""The service door's run operations: run_service, result and stop, answered in eNMS's
shapes (enms.py) from what the core returns."""

from __future__ import annotations

from typing import Any

from runplane.api.dialects import enms
from runplane.core import service_runs
from runplane.core.context import Core
from runplane.core.runs import wait_for_run
from runplane.errors import Invalid, NotFound
from runplane.model import Instance, Run, Service


async def summarize(core: Core, run: Run, service: Service | None = None) -> dict[str, Any]:
    """The summary of a finished run (`service`: its service, if the caller has it)."""
    found = await service_runs.outcomes_of(core, run, service)
    return enms.summary(run, found.outcomes, found.service)


TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no", "")


def _flag(body: dict[str, Any], key: str) -> bool:
    """A boolean of the body; clients may send it as a string ("false" must mean false) or
    as 0/1. Anything else is refused rather than guessed (a "yes please" ran synchronously)."""
    value = body.get(key, False)
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    if isinstance(value, bool) or value is None or (isinstance(value, int) and value in (0, 1)):
        return bool(value)
    raise Invalid.field(key, "Must be a boolean.")


def run_request(body: Any) -> service_runs.RunRequest:
    """A run_service body as the core takes it: the whole body is the run's payload (eNMS
    hands its code the request), `async` defaults to false (the seed), and runplane's own
    `callback_url` names where the ended run is POSTed."""
    if not isinstance(body, dict):
        raise Invalid.field("non_field_errors", "The body must be a JSON object.")
    return service_runs.RunRequest(
        service=body.get("name"),
        targets={key: body.get(key) for key in service_runs.TARGET_KEYS},
        payload=body,
        ignore_invalid_targets=_flag(body, "ignore_invalid_targets"),
        callback_url=body.get(service_runs.CALLBACK_FIELD),
        wait=not _flag(body, "async"),
    )


async def run_service(core: Core, instance: Instance, body: Any) -> dict[str, Any]:
    """eNMS's /rest/run_service: the async answer at once, or the sync answer when done."""
    submitted = await service_runs.submit(core, instance, run_request(body))
    if submitted.run is None:
        return {"errors": submitted.errors}
    run = submitted.run
    assert run.runtime is not None
    if not submitted.wait:
        return {"errors": submitted.errors, "runtime": run.runtime}
    waited = core.settings.service_sync_wait_seconds
    finished = await wait_for_run(core, run.id, waited, fresh=True)
    if finished is None:
        return enms.still_running(run, submitted.errors, submitted.service, waited)
    answer = await summarize(core, finished, submitted.service)
    answer["errors"] = submitted.errors
    return answer


async def result(core: Core, instance: Instance, service_name: str, runtime: str
                 ) -> dict[str, Any]:
    """eNMS's /rest/result: "No results yet." while running, then the summary; an unknown
    service or runtime is eNMS's 200 with `error`."""
    try:
        run = await service_runs.find_service_run(core, instance, service_name, runtime)
    except NotFound:
        return {"error": enms.NO_SUCH_RUN}
    if not run.is_final:
        return {"status": enms.status_name(run.status), "result": enms.NO_RESULTS_YET}
    return {"status": enms.status_name(run.status), "result": await summarize(core, run)}


async def stop(core: Core, instance: Instance, runtime: str) -> dict[str, Any]:
    """Stop a run now: queued targets are aborted, running ones killed by their workers."""
    run = await service_runs.find_run(core, instance, runtime)
    if run.is_final:
        return {"runtime": runtime, "stopped": False, "status": enms.status_name(run.status),
                "aborted": [], "stopping": [], "message": enms.ALREADY_ENDED}
    stopped = await service_runs.stop_run(core, run)
    return {
        "runtime": runtime,
        "stopped": True,
        "status": "Aborted" if stopped.ended else "Running",
        "aborted": stopped.aborted,
        "stopping": stopped.stopping,
    }
