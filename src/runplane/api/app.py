"""The application factory: the doors, the core behind them, and the embedded workers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.exceptions import HTTPException

from runplane import __version__
from runplane.api import health
from runplane.api.batch_door import routes as batch_door
from runplane.api.batch_door.actions import batch_actions
from runplane.api.body_limit import BodyLimitMiddleware
from runplane.api.connection_guard import ConnectionGuard
from runplane.api.door_envelopes import http_error
from runplane.api.json_response import JSONResponse
from runplane.api.script_door import endpoints, instances, scripts
from runplane.api.service_door import inventory as service_inventory
from runplane.api.service_door import services as service_runs
from runplane.core.context import open_core, start_listening
from runplane.process import start_sender, start_worker
from runplane.settings import Settings

log = logging.getLogger("runplane")

DESCRIPTION = """
runplane runs scripts and services on request, over REST.

* **Script door** (Syncano API v1.1): `/v1.1/instances/...` — instances, scripts, runs,
  traces, script endpoints. Keys in `X-API-KEY`, `?api_key=` or `Authorization: Token <key>`.
* **Batch door** (iVvy API 1.0): `POST /api/1.0/batch?action=run|progress|results|restart|repost`
  — ordered jobs over runplane's namespaces, with a signed callback that is never lost.
* **Service door** (eNMS): `/rest/...` — `run_service`, results, stop, logs, inventory
  (devices, pools, services), query, search. HTTP Basic
  with an API key as the password, or `X-API-KEY`; the instance from `X-RUNPLANE-INSTANCE`.
"""


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        core = await open_core(settings)
        core.batch_jobs = batch_actions()  # what this process's worker runs batches with
        app.state.core = core
        core.secrets.prepare()  # the key file exists from the first start
        listener = start_listening(core)
        worker = await start_worker(core) if settings.workers > 0 else None
        app.state.isolation = worker.executor.isolation() if worker is not None else None
        sender = await start_sender(core) if settings.workers > 0 else None
        try:
            yield
        finally:
            if worker is not None:
                await worker.stop()
            if sender is not None:
                await sender.stop()
            if listener is not None:
                await listener.stop()
            await core.database.close()

    app = FastAPI(
        title="runplane", version=__version__, description=DESCRIPTION, lifespan=lifespan,
        default_response_class=JSONResponse,
    )
    app.add_middleware(BodyLimitMiddleware, limit=settings.body_max_bytes)
    # Added last, so outermost: it sees what escapes every door and the body limit.
    app.add_middleware(ConnectionGuard)
    app.add_exception_handler(HTTPException, http_error)
    app.include_router(health.router)
    app.include_router(instances.router)
    app.include_router(scripts.router)
    app.include_router(endpoints.router)
    app.include_router(batch_door.router)
    app.include_router(service_inventory.router)
    app.include_router(service_runs.router)
    return app
