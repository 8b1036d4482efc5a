"""The global body cap answers 413 in the envelope of the door a path belongs to."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from runplane.api.body_limit import BodyLimitMiddleware, too_large_body

pytestmark = pytest.mark.anyio


def test_each_door_has_its_envelope() -> None:
    assert too_large_body("/v1.1/instances/", 10) == {
        "detail": "Request size limit exceeded (10)."
    }
    assert too_large_body("/rest/run_service", 10) == {
        "alert": "Error 413 - Request size limit exceeded (10)."
    }
    batch = too_large_body("/api/1.0/batch", 10)
    assert batch["errorCode"] == 413 and batch["specificCode"] == 24095


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"size": len(await request.body())})


async def test_declared_and_streamed_bodies_over_the_cap_are_refused() -> None:
    # As in the real app: inside Starlette's error middleware, outside the routes.
    app = Starlette(
        routes=[Route("/{path:path}", echo, methods=["POST"])],
        middleware=[Middleware(BodyLimitMiddleware, limit=100)],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        small = await client.post("/rest/x", content=b"a" * 100)
        declared = await client.post("/rest/x", content=b"a" * 101)

        async def chunks():  # no Content-Length: counted as it streams
            for _ in range(3):
                yield b"a" * 60

        streamed = await client.post("/v1.1/x", content=chunks())
    assert small.status_code == 200 and small.json() == {"size": 100}
    assert declared.status_code == 413 and "alert" in declared.json()
    assert streamed.status_code == 413 and "detail" in streamed.json()
