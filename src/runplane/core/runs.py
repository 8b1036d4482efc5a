"""Runs of scripts: queueing one, reading its trace, waiting for it to end."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runplane.clock import utcnow
from runplane.core import handoff, validation
from runplane.core.access import Role, require
from runplane.core.callback_urls import check_callback_url, configured_networks
from runplane.core.context import Core
from runplane.core.instances import find as find_instance
from runplane.core.instances import found as found_instance
from runplane.core.instances import lookup_name
from runplane.core.keys import NO_CREDENTIALS, key_of
from runplane.core.scripts import find as find_script
from runplane.core.scripts import found as found_script
from runplane.errors import NotFound, TooLarge, Unauthenticated
from runplane.model import SCRIPT_RUN, ApiKey, ClaimedTask, Instance, Page, Run, Script
from runplane.store import instances as instance_store
from runplane.store import runs as store
from runplane.store import scripts as script_store
from runplane.store.unit import Tx

# Called in the transaction that makes a run, with that run.
RunLink = Callable[[Tx, Run], None]
# How META names the cause of a run, in Syncano's words.
EXECUTED_BY = {"api": "codebox", "endpoint": "webhook", "schedule": "schedule"}
FIRST_POLL = 0.01


async def queue_script_run(
    core: Core,
    instance: Instance,
    script: Script,
    payload: Any,
    *,
    trigger: str,
    executor: str | int,
    meta: dict[str, Any] | None = None,
    callback_url: str | None = None,
    link: RunLink | None = None,
) -> Run:
    """Validate the payload, then commit the run and its task before anyone hears of it.

    `callback_url` (already checked) is called when the run ends; `link` runs inside the
    transaction that makes the run (a batch job records the run it started, atomically).
    """
    args = validation.payload(payload)
    if validation.encoded_size(args) > core.settings.payload_max_bytes:
        raise TooLarge("payload", core.settings.payload_max_bytes)
    run_meta = {
        "executed_by": EXECUTED_BY[trigger],
        "executor": executor,
        "instance": instance.name,
        "async": trigger != "endpoint",
        **(meta or {}),
    }

    def insert(conn: Tx, reserved: int) -> tuple[Run, list[list[ClaimedTask]]]:
        number = script_store.next_trace_number(conn, script.id)
        run = store.insert_run(
            conn, instance_id=instance.id, kind=SCRIPT_RUN, script_id=script.id, number=number,
            trigger=trigger, payload=args, meta=run_meta, targets=[None],
            max_attempts=core.settings.max_attempts, now=utcnow(),
            extra={"callback_url": callback_url} if callback_url else None,
        )
        if link is not None:
            link(conn, run)
        return run, handoff.claim_new(conn, core.handoff, SCRIPT_RUN, run.id, reserved)

    return await handoff.queue_with_handoff(
        core.handoff, SCRIPT_RUN, 1, lambda reserved: core.database.write_small(insert, reserved),
        lambda: core.signals.work_queued(SCRIPT_RUN),
    )


@dataclass(frozen=True)
class ScriptCall:
    """A run request's caller, with the instance and script it names (None: not found)."""

    key: ApiKey
    instance: Instance | None
    script: Script | None


async def find_script_call(core: Core, presented: str | None, instance_name: str,
                           number: int | None) -> ScriptCall:
    """The key presented and what it asks to run, in one read. Only Unauthenticated is
    raised here; `run_found` raises the rest, so that a door can check the body between."""
    if not presented:
        raise Unauthenticated(NO_CREDENTIALS)

    def look_up(conn: Tx) -> ScriptCall:
        key = key_of(conn, core.key_secret, presented)
        return ScriptCall(key, *instance_and_script(conn, lookup_name(instance_name), number))

    return await core.database.read_small(look_up)


async def run_script(
    core: Core, key: ApiKey, instance_name: str, number: int, payload: Any,
    callback_url: Any = None,
) -> tuple[Script, Run]:
    found, script = await core.database.read_small(
        instance_and_script, lookup_name(instance_name), number
    )
    return await run_found(core, ScriptCall(key, found, script), payload, callback_url)


async def run_found(core: Core, call: ScriptCall, payload: Any, callback_url: Any = None
                    ) -> tuple[Script, Run]:
    """Queue the run `call` found: NotFound for its instance, then for its script, then
    Forbidden if the key may not run it."""
    instance = found_instance(call.instance)
    require(call.key, Role.run, instance)
    script = found_script(call.script)
    checked = None
    if callback_url is not None:
        checked = await check_callback_url(
            callback_url, configured_networks(core.settings.callback_denied_networks),
            field="callback_url",
        )
    run = await queue_script_run(
        core, instance, script, payload, trigger="api", executor=script.number,
        callback_url=checked,
    )
    return script, run


def instance_and_script(conn: Tx, instance_name: str, number: int | None
                        ) -> tuple[Instance | None, Script | None]:
    """Both in one read (a run request needs both, at once); no script for number None
    (an id no script can have)."""
    instance = instance_store.get_instance(conn, instance_name)
    if instance is None or number is None:
        return instance, None
    return instance, script_store.get_script(conn, instance.id, number)


async def get_trace(
    core: Core, key: ApiKey, instance_name: str, script_number: int, trace_number: int
) -> Run:
    instance = await find_instance(core, instance_name)
    require(key, Role.read, instance)
    script = await find_script(core, instance, script_number)
    run = await core.database.read_small(store.get_script_run, script.id, trace_number)
    if run is None:
        raise NotFound("Trace", "Not found.")
    return run


async def list_traces(
    core: Core, key: ApiKey, instance_name: str, script_number: int, *, after: int | None,
    limit: int, descending: bool,
) -> Page[Run]:
    instance = await find_instance(core, instance_name)
    require(key, Role.read, instance)
    script = await find_script(core, instance, script_number)
    return await core.database.read(
        store.list_script_runs, script.id, after=after, limit=limit, descending=descending,
    )


async def run_of(core: Core, instance: Instance, *, run_id: int | None = None,
                 runtime: str | None = None) -> Run | None:
    """A run of `instance`, by its id (with its output) or its runtime; None if it has none."""
    if run_id is not None:
        found = await core.database.read(store.get_run, run_id, with_output=True)
    elif runtime is not None:
        found = await core.database.read(store.get_run_by_runtime, runtime)
    else:
        return None
    return found if found is not None and found.instance_id == instance.id else None


async def run_exists(core: Core, run_id: int) -> bool:
    return await core.database.read(store.get_run, run_id) is not None


async def wait_for_run(core: Core, run_id: int, timeout: float, *, fresh: bool = False
                       ) -> Run | None:
    """The run (with its output) once it has ended, or None if it is still going after
    `timeout` seconds.

    A local worker tells us at once, often with the run as it ended; a worker in another
    process is noticed by polling, with a delay that starts small and grows to the poll
    interval. `fresh`: the caller queued the run just now, so it is not worth reading before
    anything is heard of it.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = FIRST_POLL
    finished = core.signals.watch_run(run_id)
    look = not fresh
    try:
        while True:
            ended, run = core.signals.ended(run_id)
            if run is not None and run.output is not None:
                return run
            if look or ended:
                run = await core.database.read_small(store.get_run, run_id, with_output=True)
                if run is None or run.is_final:
                    return run
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(finished.wait(), min(delay, remaining))
            except TimeoutError:
                delay = min(delay * 2, core.settings.poll_interval)
            look = True
    finally:
        core.signals.unwatch_run(run_id, finished)
