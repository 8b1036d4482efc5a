"""Script endpoints: /v1.1/instances/{instance}/endpoints/scripts/... (synchronous runs)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from runplane.api.core_dependency import CoreDep
from runplane.api.dialects import syncano
from runplane.api.json_response import JSONResponse
from runplane.api.openapi_docs import body_doc
from runplane.api.script_door.auth import with_body
from runplane.api.script_door.errors import ScriptDoorRoute, detail
from runplane.api.script_door.openapi_bodies import ENDPOINT, ENDPOINT_ARGS, NEW_ENDPOINT
from runplane.api.script_door.paging import paginated
from runplane.api.script_door.requests import Caller, key_from, read_body
from runplane.core import endpoints
from runplane.core.endpoints import EndpointRun
from runplane.model import Page, ScriptEndpoint

router = APIRouter(route_class=ScriptDoorRoute, tags=["script door: endpoints"])
BASE = "/v1.1/instances/{instance}/endpoints/scripts"
QUERY_KEYS = ("api_key", "apikey")
BODY_KEYS = ("_api_key", "_user_key")
HIDDEN_HEADERS = {
    "x-api-key", "x-user-key", "authorization", "cookie", "connection", "x-real-ip",
}
TOO_SLOW = "Script took too much time."


@router.get(f"{BASE}/", summary="List script endpoints")
async def list_endpoints(
    instance: str, request: Request, core: CoreDep, key: Caller
) -> dict[str, Any]:
    async def fetch(after: int | None, limit: int, descending: bool) -> Page[ScriptEndpoint]:
        return await endpoints.list_endpoints(
            core, key, instance, after=after, limit=limit, descending=descending
        )

    return await paginated(
        request, fetch, key=lambda item: item.id,
        render=lambda item: syncano.endpoint(item, instance.lower()),
        max_size=core.settings.page_size_max,
    )


@router.post(f"{BASE}/", status_code=201, summary="Create a script endpoint",
             openapi_extra=body_doc(NEW_ENDPOINT))
async def create_endpoint(instance: str, request: Request, core: CoreDep) -> dict[str, Any]:
    key, body = await with_body(request, core)
    return syncano.endpoint(await endpoints.create(core, key, instance, body), instance.lower())


@router.get(f"{BASE}/{{name}}/", summary="Get a script endpoint")
async def get_endpoint(instance: str, name: str, core: CoreDep, key: Caller) -> dict[str, Any]:
    return syncano.endpoint(await endpoints.get(core, key, instance, name), instance.lower())


@router.api_route(
    f"{BASE}/{{name}}/", methods=["PUT", "PATCH"], summary="Update a script endpoint",
    openapi_extra=body_doc(ENDPOINT),
)
async def update_endpoint(
    instance: str, name: str, request: Request, core: CoreDep
) -> dict[str, Any]:
    key, body = await with_body(request, core)
    updated = await endpoints.update(core, key, instance, name, body)
    return syncano.endpoint(updated, instance.lower())


@router.delete(f"{BASE}/{{name}}/", status_code=204, summary="Delete a script endpoint")
async def delete_endpoint(instance: str, name: str, core: CoreDep, key: Caller) -> Response:
    await endpoints.delete(core, key, instance, name)
    return Response(status_code=204)


@router.post(f"{BASE}/{{name}}/reset_link/", summary="Give the endpoint a new public link")
async def reset_link(instance: str, name: str, core: CoreDep, key: Caller) -> dict[str, Any]:
    updated = await endpoints.update(core, key, instance, name, {}, reset_link=True)
    return syncano.endpoint(updated, instance.lower())


def endpoint_args(request: Request, body: Any) -> dict[str, Any]:
    """ARGS: the body's fields merged with the query string's; the query string wins."""
    if not isinstance(body, dict | list):
        raise detail(400, "Payload passed in invalid format.")
    args = {k: v for k, v in body.items() if k not in BODY_KEYS} if isinstance(body, dict) else {}
    args.update((k, v) for k, v in request.query_params.items() if k not in QUERY_KEYS)
    return args


def request_meta(request: Request) -> dict[str, Any]:
    """The request as META["request"] shows it, without credentials."""
    meta: dict[str, Any] = {"PATH_INFO": request.url.path, "REQUEST_METHOD": request.method}
    for name, value in request.headers.items():
        if name not in HIDDEN_HEADERS and not name.startswith("x-forwarded-"):
            meta["HTTP_" + name.upper().replace("-", "_")] = value
    forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
    meta["REMOTE_ADDR"] = forwarded or (request.client.host if request.client else "")
    return meta


def finished_answer(instance: str, outcome: EndpointRun) -> JSONResponse:
    """The finished trace (without links, as Syncano answered), or 408 with where to poll."""
    script_number, queued = outcome.endpoint.script_number, outcome.queued
    if outcome.finished is None:
        return JSONResponse(
            {"detail": TOO_SLOW, "id": queued.number,
             "links": {"self": syncano.trace_path(instance, script_number, queued.number or 0)}},
            status_code=408,
        )
    return JSONResponse(syncano.trace(outcome.finished, instance, script_number, with_links=False))


@router.api_route(
    f"{BASE}/{{name}}/run/", methods=["GET", "POST"],
    summary="Run the endpoint's script and answer its finished trace",
    openapi_extra=body_doc(ENDPOINT_ARGS, required=False),
)
@router.api_route(f"{BASE}/{{name}}/", methods=["POST"], include_in_schema=False)
async def run_endpoint(instance: str, name: str, request: Request, core: CoreDep) -> JSONResponse:
    limit = core.settings.payload_max_bytes
    given = key_from(request)
    body = await read_body(request, limit)
    outcome = await endpoints.run(
        core, given or key_from(request, body), instance, name, endpoint_args(request, body),
        request_meta(request),
    )
    return finished_answer(instance.lower(), outcome)


@router.api_route(
    f"{BASE}/p/{{public_link}}/{{name}}/", methods=["GET", "POST"],
    summary="Run a public endpoint (no key: the link is the secret)",
    openapi_extra=body_doc(ENDPOINT_ARGS, required=False),
)
async def run_public_endpoint(
    instance: str, public_link: str, name: str, request: Request, core: CoreDep
) -> JSONResponse:
    body = await read_body(request, core.settings.payload_max_bytes)
    outcome = await endpoints.run_public(
        core, instance, public_link, name, endpoint_args(request, body), request_meta(request)
    )
    return finished_answer(instance.lower(), outcome)
