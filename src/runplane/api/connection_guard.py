"""The outermost layer of the app: no error closes a keep-alive connection without a word.

uvicorn closes the connection whenever an exception escapes the app, after Starlette has
answered a plain-text 500 that does not say `Connection: close`: the client keeps the
connection and its next request on it is reset (issue 14: after a 500 of the batch door). Here
an escaped exception becomes a 500 in the door's envelope on a connection that stays open, and
every connection the server closes on an error is said in the log with the client's address,
so that a client's reset can be matched to it.
"""

from __future__ import annotations

import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runplane.api.batch_door.envelope import INTERNAL_ERROR
from runplane.api.door_envelopes import error_body

log = logging.getLogger("runplane.api.connections")

UNEXPECTED = "An unexpected error occurred; it is in the server's log."


def closes_connection(message: Message) -> bool:
    """Whether an `http.response.start` tells the server to close the connection after it."""
    return any(name.lower() == b"connection" and b"close" in value.lower()
               for name, value in message.get("headers", ()))


def who(scope: Scope) -> str:
    client = scope.get("client")
    peer = f"{client[0]}:{client[1]}" if client else "unknown client"
    return f"{scope.get('method', '?')} {scope.get('path', '?')} from {peer}"


class ConnectionGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = completed = False

        async def watching_send(message: Message) -> None:
            nonlocal started, completed
            if message["type"] == "http.response.start":
                started = True
                if closes_connection(message):
                    log.warning("closing the connection after a %s to %s",
                                message["status"], who(scope))
            elif message["type"] == "http.response.body":
                completed = not message.get("more_body", False)
            await send(message)

        try:
            await self.app(scope, receive, watching_send)
        except Exception:
            # Never re-raised: uvicorn would close the connection, even after a whole answer.
            if completed:
                log.exception("error after the answer to %s (the connection stays open)",
                              who(scope))
            elif started:
                # Half an answer is out: only closing the connection (uvicorn does, as this
                # returns) can tell the client.
                log.exception("closing the connection: an error cut short the answer to %s",
                              who(scope))
            else:
                log.exception("unexpected error on %s", who(scope))
                await self._answer_500(scope, send)

    async def _answer_500(self, scope: Scope, send: Send) -> None:
        payload = json.dumps(error_body(scope.get("path", ""), 500, UNEXPECTED,
                                        INTERNAL_ERROR)).encode()
        await send({
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        })
        await send({"type": "http.response.body", "body": payload})
