"""Scripts, running them, and their traces: /v1.1/instances/{instance}/snippets/scripts/..."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from runplane.api.core_dependency import CoreDep
from runplane.api.dialects import syncano
from runplane.api.openapi_docs import body_doc
from runplane.api.script_door.auth import with_body
from runplane.api.script_door.errors import ScriptDoorRoute, detail
from runplane.api.script_door.openapi_bodies import NEW_SCRIPT, SCRIPT
from runplane.api.script_door.paging import paginated
from runplane.api.script_door.requests import Caller, key_from, object_body
from runplane.core import runs, scripts, validation
from runplane.core.instances import visible
from runplane.model import Page, Run, Script

router = APIRouter(route_class=ScriptDoorRoute, tags=["script door: scripts"])
BASE = "/v1.1/instances/{instance}/snippets/scripts"
# Keys a client may put in a body that are not part of the payload.
AUTH_FIELDS = ("_api_key", "_user_key", "callback_url")

RUN_EXAMPLE = {"payload": {"KEY": "VALUE"}}


def is_number(value: str) -> bool:
    # isdigit() alone lets "²" through (int() refuses it); a huge id would fail the query.
    return value.isascii() and value.isdigit() and int(value) <= validation.ID_MAX


def number(value: str) -> int:
    """A path id; anything but a positive integer is simply not found."""
    if not is_number(value):
        raise detail(404, "Not found.")
    return int(value)


@router.get(f"{BASE}/runtimes/", summary="List the runtimes a script may use")
async def list_runtimes(instance: str, core: CoreDep, key: Caller) -> dict[str, Any]:
    await visible(core, key, instance)
    return syncano.runtimes()


@router.get(f"{BASE}/", summary="List scripts")
async def list_scripts(
    instance: str, request: Request, core: CoreDep, key: Caller
) -> dict[str, Any]:
    async def fetch(after: int | None, limit: int, descending: bool) -> Page[Script]:
        return await scripts.list_scripts(
            core, key, instance, after=after, limit=limit, descending=descending
        )

    return await paginated(
        request, fetch, key=lambda item: item.number,
        render=lambda item: syncano.script(item, instance.lower(), in_list=True),
        max_size=core.settings.page_size_max,
    )


@router.post(f"{BASE}/", status_code=201, summary="Create a script",
             openapi_extra=body_doc(NEW_SCRIPT))
async def create_script(instance: str, request: Request, core: CoreDep) -> dict[str, Any]:
    key, body = await with_body(request, core)
    return syncano.script(await scripts.create(core, key, instance, body), instance.lower())


@router.get(f"{BASE}/{{script_id}}/", summary="Get a script")
async def get_script(instance: str, script_id: str, core: CoreDep, key: Caller) -> dict[str, Any]:
    found = await scripts.get(core, key, instance, number(script_id))
    return syncano.script(found, instance.lower())


@router.api_route(f"{BASE}/{{script_id}}/", methods=["PUT", "PATCH"], summary="Update a script",
                  openapi_extra=body_doc(SCRIPT))
async def update_script(
    instance: str, script_id: str, request: Request, core: CoreDep
) -> dict[str, Any]:
    key, body = await with_body(request, core)
    updated = await scripts.update(
        core, key, instance, number(script_id), body, partial=request.method == "PATCH"
    )
    return syncano.script(updated, instance.lower())


@router.delete(f"{BASE}/{{script_id}}/", status_code=204, summary="Delete a script")
async def delete_script(instance: str, script_id: str, core: CoreDep, key: Caller) -> Response:
    await scripts.delete(core, key, instance, number(script_id))
    return Response(status_code=204)


def run_payload(body: dict[str, Any]) -> Any:
    """`{"payload": ...}` as documented; a body without `payload` is the payload itself.

    Syncano's JavaScript client sends the payload unwrapped; the original server then ran
    the script with empty ARGS. Taking the body as ARGS is what that client meant.
    """
    if "payload" in body:
        return body["payload"]
    return {name: value for name, value in body.items() if name not in AUTH_FIELDS}


@router.post(
    f"{BASE}/{{script_id}}/run/",
    summary="Run a script (answers the pending trace at once)",
    openapi_extra={"requestBody": {"content": {"application/json": {
        "schema": {"type": "object", "properties": {"payload": {
            "description": "ARGS for the script: a JSON object or array (or a string of one)",
            "anyOf": [{"type": "object"}, {"type": "array"}, {"type": "string"}],
        }, "callback_url": {
            "description": "runplane: POST the finished run here (signed, retried)",
            "type": "string",
        }}},
        "example": RUN_EXAMPLE,
    }}}},
)
async def run_script(instance: str, script_id: str, request: Request, core: CoreDep) -> Any:
    # The key, instance and script in one read; errors in the order of the separate steps
    # (key, body, script id, instance, script).
    limit = core.settings.payload_max_bytes
    presented, body = key_from(request), None
    if presented is None:  # in the body, if anywhere
        body = await object_body(request, limit)
        presented = key_from(request, body)
    call = await runs.find_script_call(
        core, presented, instance, int(script_id) if is_number(script_id) else None
    )
    body = await object_body(request, limit) if body is None else body
    number(script_id)  # its 404, if not an id
    script, run = await runs.run_found(core, call, run_payload(body), body.get("callback_url"))
    return syncano.trace(run, instance.lower(), script.number)


@router.get(f"{BASE}/{{script_id}}/traces/", summary="List a script's traces (newest first)")
async def list_traces(
    instance: str, script_id: str, request: Request, core: CoreDep, key: Caller
) -> dict[str, Any]:
    script_number = number(script_id)

    async def fetch(after: int | None, limit: int, descending: bool) -> Page[Run]:
        return await runs.list_traces(
            core, key, instance, script_number, after=after, limit=limit, descending=descending
        )

    return await paginated(
        request, fetch, key=lambda item: item.number or 0,
        render=lambda item: syncano.trace(item, instance.lower(), script_number, in_list=True),
        default_descending=True, max_size=core.settings.page_size_max,
    )


@router.get(f"{BASE}/{{script_id}}/traces/{{trace_id}}/", summary="Get a trace")
async def get_trace(
    instance: str, script_id: str, trace_id: str, core: CoreDep, key: Caller
) -> dict[str, Any]:
    script_number = number(script_id)
    run = await runs.get_trace(core, key, instance, script_number, number(trace_id))
    return syncano.trace(run, instance.lower(), script_number)
