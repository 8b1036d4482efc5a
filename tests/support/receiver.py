"""A real HTTP callback receiver on 127.0.0.1, with programmable answers, recording requests.

Answers are taken in order, one per request, then `default`: an HTTP status (200, 500...),
or "drop" (read the request, then close the connection without answering: a connection
error to the sender). `stop()` closes the port (connections are refused: "down") and
`start()` opens it again on the same port.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DROP = "drop"
Answer = int | str


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: Answer
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _QuietServer(ThreadingHTTPServer):
    """A sender that goes away (a server stopped, an idle keep-alive connection dropped)
    resets its connection: that is no error of the receiver's, to print a traceback for."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class Receiver:
    def __init__(self, answers: Iterable[Answer] = (), *, default: Answer = 200,
                 delay: float = 0.0, port: int | None = None) -> None:
        self.port = port or free_port()
        self.default = default
        self.delay = delay
        self._answers: deque[Answer] = deque(answers)
        self._requests: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/callback"

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._requests)

    def program(self, answers: Iterable[Answer], *, default: Answer | None = None) -> None:
        with self._lock:
            self._answers = deque(answers)
            if default is not None:
                self.default = default

    def _next_answer(self) -> Answer:
        with self._lock:
            return self._answers.popleft() if self._answers else self.default

    def _record(self, received: Received) -> None:
        with self._lock:
            self._requests.append(received)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                answer = receiver._next_answer()
                if receiver.delay:
                    time.sleep(receiver.delay)
                headers = {name.lower(): value for name, value in self.headers.items()}
                receiver._record(Received(self.path, headers, body, answer))
                if answer == DROP:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                payload = b'{"ok": true}'
                self.send_response(int(answer))
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _QuietServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """At least `count` requests, or AssertionError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = self.requests
            if len(seen) >= count:
                return seen
            time.sleep(0.02)
        raise AssertionError(f"receiver got {len(self.requests)} request(s), wanted {count}")
