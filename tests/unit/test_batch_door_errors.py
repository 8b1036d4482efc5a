"""An unexpected error in a batch door route is answered in iVvy's envelope (logged), never
as plain text."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from runplane.api.batch_door.envelope import INTERNAL_ERROR
from runplane.api.batch_door.errors import BatchDoorRoute


def test_a_bug_of_ours_is_a_500_in_the_envelope() -> None:
    router = APIRouter(route_class=BatchDoorRoute)

    @router.post("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    app = FastAPI()
    app.include_router(router)
    answer = TestClient(app, raise_server_exceptions=True).post("/boom")
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert set(body) == {"errorCode", "message", "specificCode", "additionalMessages"}
    assert (body["errorCode"], body["specificCode"]) == (500, INTERNAL_ERROR)
    assert "a bug" not in body["message"]  # the details stay in the server's log
