"""POST /api/1.0/batch?action=run|progress|results|restart|repost (iVvy), and runplane's
own `callbacks` (delivery attempts) and `secret` (the key receivers verify signatures with).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from runplane.api.batch_door import batches, openapi_bodies
from runplane.api.batch_door.envelope import (
    BAD_BODY,
    INCORRECT_JOB_FORMAT,
    UNKNOWN_ACTION,
    BatchError,
)
from runplane.api.batch_door.errors import BatchDoorRoute
from runplane.api.batch_door.requests import body_of, caller
from runplane.api.core_dependency import CoreDep
from runplane.api.openapi_docs import body_doc
from runplane.core import batches as batch_core
from runplane.core.context import Core
from runplane.model import ApiKey

router = APIRouter(route_class=BatchDoorRoute, tags=["batch door"])
PATH = "/api/1.0/batch"


Act = Callable[[Core, ApiKey, str, dict[str, Any]], Awaitable[dict[str, Any]]]


def async_id(body: dict[str, Any]) -> Any:
    """iVvy names the batch `async` in requests; `asyncId` (as answered) is taken too."""
    return body.get("async", body.get("asyncId"))


async def run(core: Core, key: ApiKey, instance: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"asyncId": (await batches.submit(core, key, instance, body)).async_id}


async def progress(core: Core, key: ApiKey, instance: str, body: dict[str, Any]
                   ) -> dict[str, Any]:
    return {"progress": await batches.progress(core, key, instance, async_id(body))}


async def results(core: Core, key: ApiKey, instance: str, body: dict[str, Any]
                  ) -> dict[str, Any]:
    return await batches.results(core, key, instance, async_id(body))


async def restart(core: Core, key: ApiKey, instance: str, body: dict[str, Any]
                  ) -> dict[str, Any]:
    await batches.restart(core, key, instance, async_id(body))
    return {"restarted": True}


async def repost(core: Core, key: ApiKey, instance: str, body: dict[str, Any]
                 ) -> dict[str, Any]:
    await batches.repost(core, key, instance, async_id(body))
    return {"reposted": True}


async def callbacks(core: Core, key: ApiKey, instance: str, body: dict[str, Any]
                    ) -> dict[str, Any]:
    return await batches.callbacks(core, key, instance, async_id(body))


async def secret(core: Core, key: ApiKey, instance: str, body: dict[str, Any]
                 ) -> dict[str, Any]:
    return {"instance": instance.lower(),
            "secret": await batch_core.webhook_secret(core, key, instance)}


ACTIONS: dict[str, Act] = {
    "run": run, "progress": progress, "results": results, "restart": restart,
    "repost": repost, "callbacks": callbacks, "secret": secret,
}

# The actions, listed for /docs only: an unknown one is answered 24000 in the envelope.
ActionName = Annotated[str, Query(json_schema_extra={"enum": list(ACTIONS)})]


@router.api_route(
    PATH, methods=["POST", "GET"],
    summary="iVvy batch: run | progress | results | restart | repost (and callbacks, secret)",
    openapi_extra=body_doc(openapi_bodies.batch_body(), openapi_bodies.EXAMPLE, required=False),
)
async def batch(request: Request, core: CoreDep, action: ActionName = "") -> dict[str, Any]:
    act = ACTIONS.get(action)
    if act is None:
        raise BatchError(400, f"Unknown action '{action}'.", UNKNOWN_ACTION,
                         [f"action: one of {', '.join(ACTIONS)}."])
    key, instance = await caller(request, core)
    body = await body_of(request, core.settings.batch_body_max_bytes)
    if not isinstance(body, dict):
        code = INCORRECT_JOB_FORMAT if action == "run" else BAD_BODY
        raise BatchError(400, "The request body must be a JSON object.", code)
    return await act(core, key, instance, body)
