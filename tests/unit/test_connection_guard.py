"""An error never closes a keep-alive connection without a word (issue 14: after a 500 of the
batch door, the client's next request on the same connection was reset).

Served by a real uvicorn, as runplane is: it is uvicorn that closes a connection when an
exception escapes the app, after Starlette's plain-text 500 that does not say so.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runplane.api.connection_guard import ConnectionGuard


async def boom(request: Request) -> Response:
    raise RuntimeError("a bug")


async def fine(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def refused(request: Request) -> Response:
    return JSONResponse({"detail": "too large"}, status_code=413,
                        headers={"Connection": "close"})


def app(guarded: bool) -> Starlette:
    return Starlette(
        routes=[Route("/{door:path}/boom", boom), Route("/fine", fine),
                Route("/refused", refused, methods=["POST"])],
        middleware=[Middleware(ConnectionGuard)] if guarded else [],
    )


def serve(application: Starlette) -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(application, log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def guarded_port() -> Iterator[int]:
    yield from serve(app(guarded=True))


@pytest.fixture
def bare_port() -> Iterator[int]:
    yield from serve(app(guarded=False))


def get(connection: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    connection.request("GET", path)
    answer = connection.getresponse()
    return answer.status, answer.read()


def test_without_the_guard_the_next_request_after_an_escaped_error_is_reset(
    bare_port: int,
) -> None:
    # What happened before: a keep-alive 500 in plain text, then the connection closed.
    connection = http.client.HTTPConnection("127.0.0.1", bare_port, timeout=10)
    assert get(connection, "/api/boom") == (500, b"Internal Server Error")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        get(connection, "/fine")
    connection.close()


@pytest.mark.parametrize(("door", "envelope"), [
    ("/rest", {"alert": "Error 500 - An unexpected error occurred; it is in the server's log."}),
    ("/api/1.0", {"errorCode": 500, "specificCode": 24500, "additionalMessages": [],
                  "message": "An unexpected error occurred; it is in the server's log."}),
    ("/v1.1", {"detail": "An unexpected error occurred; it is in the server's log."}),
])
def test_an_escaped_error_is_the_doors_500_and_the_connection_serves_on(
    guarded_port: int, door: str, envelope: dict[str, object], caplog: pytest.LogCaptureFixture,
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", guarded_port, timeout=10)
    with caplog.at_level(logging.ERROR, logger="runplane.api.connections"):
        status, body = get(connection, f"{door}/boom")
    assert (status, json.loads(body)) == (500, envelope)
    assert connection.sock is not None
    port = connection.sock.getsockname()[1]
    assert get(connection, "/fine") == (200, b'{"ok":true}')
    assert connection.sock.getsockname()[1] == port  # the same connection
    connection.close()
    [record] = [r for r in caplog.records if r.name == "runplane.api.connections"]
    assert record.getMessage().startswith(f"unexpected error on GET {door}/boom from 127.0.0.1:")
    assert record.exc_info is not None and "a bug" in str(record.exc_info[1])


def test_an_answer_that_closes_the_connection_is_logged(
    guarded_port: int, caplog: pytest.LogCaptureFixture,
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", guarded_port, timeout=10)
    with caplog.at_level(logging.WARNING, logger="runplane.api.connections"):
        connection.request("POST", "/refused", b"{}")
        answer = connection.getresponse()
        assert (answer.status, answer.getheader("connection")) == (413, "close")
        answer.read()
    connection.close()
    messages = [r.getMessage() for r in caplog.records if r.name == "runplane.api.connections"]
    assert len(messages) == 1
    assert messages[0].startswith("closing the connection after a 413 to POST /refused from "
                                  "127.0.0.1:")
