"""Running services over targets: submit, outcomes, stop and logs of a service run.

The caller's role on the instance is checked by the door (or the batch action) beforehand;
the door renders what these return in its dialect (api/dialects/enms.py).

A run of a service is one run with one task per target device (`per_device`), or one task
(`once`, or a service without targets). Targets come from the request's `devices`, `pools`
and `ip_addresses` taken together, or, when none of them is given, from the service's own.
What a client sent is read into a RunRequest by its door (api/dialects/enms_runs.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from runplane.clock import utcnow
from runplane.core import handoff
from runplane.core import services as service_core
from runplane.core.callback_urls import check_callback_url, configured_networks
from runplane.core.context import Core
from runplane.core.runs import RunLink
from runplane.core.targets import ResolvedTargets, TargetNames, resolve_in
from runplane.errors import Conflict, Invalid, NotFound, TooLarge
from runplane.model import (
    SERVICE_RUN,
    ClaimedTask,
    Instance,
    LogLine,
    Run,
    Service,
    Target,
    TargetOutcome,
)
from runplane.store import queue
from runplane.store import run_logs as log_store
from runplane.store import runs as run_store
from runplane.store import services as service_store
from runplane.store.unit import Tx

TARGET_KEYS = ("devices", "pools", "ip_addresses")
# Where a callback URL the request carries is named in errors about it.
CALLBACK_FIELD = "callback_url"
RUNTIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
# Up to this many targets a run's lookups and insert are small units (database.py).
SMALL_UNIT_ROWS = 64
RUNTIME_TRIES = 50


def new_runtime(now: datetime, bump: int = 0) -> str:
    """eNMS's runtime: the start time to the microsecond (UTC), made unique by the caller."""
    return (now + timedelta(microseconds=bump)).strftime(RUNTIME_FORMAT)


@dataclass(frozen=True)
class RunRequest:
    """A request to run the service named `service`: on the targets given (the lists under
    TARGET_KEYS, as sent; none: the service's own), with `payload` over the service's initial
    payload; POST the ended run to `callback_url` (as sent: checked here) if given."""

    service: Any
    targets: dict[str, Any]
    payload: dict[str, Any]
    ignore_invalid_targets: bool = False
    callback_url: Any = None
    wait: bool = True


@dataclass(frozen=True)
class Submitted:
    """What run_service did: errors (nothing ran), or the run it queued."""

    errors: list[str]
    run: Run | None = None
    service: Service | None = None
    wait: bool = False


async def submit(core: Core, instance: Instance, request: RunRequest, *,
                 link: RunLink | None = None) -> Submitted:
    """Validate, resolve targets and queue the run (nothing runs when a target is unknown).

    `link` runs inside the transaction that makes the run (a batch job records the run it
    started, atomically)."""
    name = service_core.checked_name(request.service)
    given = {key: value for key, value in request.targets.items()
             if key in TARGET_KEYS and value not in (None, [])}
    ignore_invalid = request.ignore_invalid_targets
    limit = core.settings.max_targets

    def look_up(conn: Tx) -> tuple[Service, ResolvedTargets]:
        """The service and its targets, in one read."""
        service = service_core.found(service_store.get_service(conn, instance.id, name), name)
        if given:
            names = {key: given.get(key) or [] for key in TARGET_KEYS}
        else:
            names = {"devices": service.devices, "pools": service.pools, "ip_addresses": []}
        for key, value in names.items():
            if not isinstance(value, list):
                raise Invalid.field(key, "Must be a list.")
        if sum(len(value) for value in names.values()) > limit:
            raise TooLarge("targets", limit)
        targets = TargetNames.of(names["devices"], names["pools"], names["ip_addresses"])
        return service, resolve_in(conn, instance.id, targets, ignore_invalid=ignore_invalid)

    # A request naming a few devices or addresses (no pool, which may hold all of them) is
    # a small read; the service's own targets may be anything.
    named = [value for value in given.values() if isinstance(value, list)]
    small = bool(given) and "pools" not in given and sum(map(len, named)) <= SMALL_UNIT_ROWS
    read = core.database.read_small if small else core.database.read
    service, resolved = await read(look_up)
    # Every target named was unknown: with ignore_invalid_targets there is nothing left to run
    # (running once without a device, as for a service without targets, would be wrong).
    if resolved.errors and (not ignore_invalid or not resolved.devices):
        return Submitted(errors=resolved.errors)
    if len(resolved.devices) > core.settings.max_targets:
        raise TooLarge("targets", core.settings.max_targets)
    callback_url = None
    if request.callback_url is not None:
        callback_url = await check_callback_url(
            request.callback_url, configured_networks(core.settings.callback_denied_networks),
            field=CALLBACK_FIELD,
        )
    run = await _queue_run(core, instance, service, resolved.devices, request.payload, link,
                           callback_url)
    return Submitted(errors=resolved.errors, run=run, service=service, wait=request.wait)


async def _queue_run(
    core: Core, instance: Instance, service: Service, devices: list[Target],
    given: dict[str, Any], link: RunLink | None = None, callback_url: str | None = None,
) -> Run:
    payload = {**service.initial_payload, **given}
    per_device = service.run_method == "per_device" and devices
    targets: list[str | None] = [device.name for device in devices] if per_device else [None]
    target_data = [device.attributes for device in devices] if per_device else [None]
    meta: dict[str, Any] = {
        "service": service.name, "run_method": service.run_method, "trigger": "REST",
    }
    if not per_device:
        # One task for all the targets: the summary (and the code, in META) learn them here.
        # Not for per_device runs: their tasks name them, and every claim and every execution
        # would carry the whole list again (quadratic over 10,000 targets).
        meta["targets"] = [device.name for device in devices]
    now = utcnow()

    def insert(conn: Tx, runtime: str, reserved: int
               ) -> tuple[Run, list[list[ClaimedTask]]] | None:
        """The run and its tasks handed to this process's worker, or None when `runtime` is
        taken already."""
        if run_store.get_run_by_runtime(conn, runtime) is not None:
            return None
        run = run_store.insert_run(
            conn, instance_id=instance.id, kind=SERVICE_RUN, script_id=None,
            number=None, trigger="rest", payload=payload, meta=meta, targets=targets,
            max_attempts=core.settings.max_attempts, now=now,
            max_parallel=service.max_processes, target_data=target_data,
            extra={"runtime": runtime, "service_id": service.id, "callback_url": callback_url},
            retries=service.number_of_retries,
            retry_delay=service.time_between_retries,
        )
        if link is not None:
            link(conn, run)
        return run, handoff.claim_new(
            conn, core.handoff, SERVICE_RUN, run.id, reserved, tasks_total=len(targets),
            max_parallel=service.max_processes,
            service_type=service.type if per_device else None,
        )

    small = len(targets) <= SMALL_UNIT_ROWS
    write_run = core.database.write_small if small else core.database.write

    async def write(reserved: int) -> tuple[Run, list[list[ClaimedTask]]]:
        for bump in range(RUNTIME_TRIES):
            try:
                made = await write_run(insert, new_runtime(now, bump), reserved)
            except Conflict:
                continue  # another process took this runtime in the same microsecond
            if made is not None:
                return made
        raise RuntimeError("could not find a free runtime for the run")

    return await handoff.queue_with_handoff(
        core.handoff, SERVICE_RUN, len(targets), write,
        lambda: core.signals.work_queued(SERVICE_RUN),
    )


@dataclass(frozen=True)
class RunOutcomes:
    """A run's per-target outcomes and its service (None if deleted since)."""

    outcomes: list[TargetOutcome]
    service: Service | None


async def outcomes_of(core: Core, run: Run, service: Service | None = None) -> RunOutcomes:
    """What a finished run did, target by target (`service`: its service, if the caller has
    it; a single-target run that ended here with its output needs no read)."""

    def look_up(conn: Tx) -> tuple[list[TargetOutcome], Service | None]:
        return run_store.target_outcomes(conn, run.id), _service_of(conn, run)

    if service is not None and run.tasks_total == 1 and run.output is not None:
        return RunOutcomes([run.output.as_outcome()], service)
    found, service = await core.database.read(look_up)
    return RunOutcomes(found, service)


def _service_of(conn: Tx, run: Run) -> Service | None:
    if run.service_id is None:  # the service was deleted since
        return None
    return service_store.get_service_by_id(conn, run.service_id)


async def find_run(core: Core, instance: Instance, runtime: str) -> Run:
    run = await core.database.read_small(run_store.get_run_by_runtime, runtime)
    if run is None or run.instance_id != instance.id or run.kind != SERVICE_RUN:
        raise NotFound("Run", f"No run with runtime '{runtime}'.")
    return run


async def find_service_run(core: Core, instance: Instance, service_name: str, runtime: str
                           ) -> Run:
    """The run `runtime` of the service `service_name`."""
    run = await find_run(core, instance, runtime)
    if run.meta.get("service") != service_name:
        raise NotFound("Run", f"No run of service '{service_name}' with runtime '{runtime}'.")
    return run


@dataclass(frozen=True)
class Stopped:
    """What a stop did: targets aborted before they started, targets being killed."""

    aborted: list[str]
    stopping: list[str]
    # The stop ended the run (nothing was running).
    ended: bool


async def stop_run(core: Core, run: Run) -> Stopped:
    """Stop a run now: queued targets are aborted, running ones killed by their workers."""
    outcome = await core.database.write(queue.request_stop, run.id, now=utcnow())
    core.signals.stop_requested()
    if outcome.finished_run is not None:
        core.signals.run_finished(run.id)
    return Stopped(
        aborted=[name for name in outcome.aborted if name is not None],
        stopping=[name for name in outcome.stopping if name is not None],
        ended=outcome.finished_run is not None,
    )


async def logs(
    core: Core, instance: Instance, runtime: str, *, offset: int, limit: int
) -> tuple[Run, list[LogLine]]:
    run = await find_run(core, instance, runtime)
    lines = await core.database.read(log_store.read, run.id, after=offset, limit=limit)
    return run, lines
