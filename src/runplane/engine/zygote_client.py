"""The executor's side of one fork server (zygote.py): start it, send orders, read reports.

Orders go down the zygote's stdin as JSON behind a (length, order id) header; reports come back on a
SOCK_SEQPACKET socket pair, one JSON message per packet, so a "started" report can carry the
read ends of the run's stdout, stderr and status pipes (SCM_RIGHTS), message boundaries intact.
The zygote creates those pipes and forks; it also reaps, so it reports each exit.

When the zygote dies (EOF on the socket), every order in flight is answered as lost: `started`
fails with ZygoteDied and `exited` resolves to None. `on_death` then tells the executor.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runplane.engine.rundir import SAFE_PATH

log = logging.getLogger("runplane.zygote")

ZYGOTE_FILE = str(Path(__file__).with_name("zygote.py"))
READY_TIMEOUT_SECONDS = 15.0
STOP_GRACE_SECONDS = 3.0
_HEADER = struct.Struct(">IQ")  # body length, order id
_REPORT_MAX_BYTES = 64 * 1024
# The environment of the zygote itself; each run gets its own (rundir.base_env).
_ZYGOTE_ENV = {"PATH": SAFE_PATH, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


class ZygoteDied(Exception):
    """The fork server ended while an order was in flight."""


class ZygoteUnavailable(Exception):
    """The fork server could not be started."""


class ForkRefused(Exception):
    """The fork server is alive but could not make this run's process (EAGAIN, EMFILE...)."""


@dataclass
class Order:
    """One run ordered from the zygote, until its child is reaped."""

    id: int
    # (pid, stdout, stderr and status read fds); the awaiting side owns the descriptors.
    started: asyncio.Future[tuple[int, int, int, int]]
    exited: asyncio.Future[int | None]  # the returncode; None: the zygote died first
    pid: int | None = field(default=None)


class Zygote:
    """One running fork server. Create with `spawn`."""

    def __init__(self, process: asyncio.subprocess.Process, reports: socket.socket,
                 on_death: Callable[[Zygote], None]) -> None:
        loop = asyncio.get_running_loop()
        self.process = process
        self.pid = process.pid
        self._reports = reports
        self._on_death = on_death
        self._ready: asyncio.Future[None] = loop.create_future()
        self._gone: asyncio.Future[None] = loop.create_future()
        self._orders: dict[int, Order] = {}
        self._next_id = 0
        self._stopping = False
        self.alive = True
        loop.add_reader(reports.fileno(), self._on_readable)

    @classmethod
    async def spawn(cls, python: str, on_death: Callable[[Zygote], None],
                    policy: dict[str, list[str]] | None = None) -> Zygote:
        """Start a zygote; `policy`: what its runs are confined to (confine.py), if any."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        confined = [json.dumps(policy)] if policy is not None else []
        try:
            process = await asyncio.create_subprocess_exec(
                python, "-I", "-X", "utf8", ZYGOTE_FILE, str(theirs.fileno()), *confined,
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=None,
                pass_fds=(theirs.fileno(),), env=_ZYGOTE_ENV,
                start_new_session=True,  # apart from the server: no terminal signals
            )
        except OSError as exc:
            ours.close()
            raise ZygoteUnavailable(f"could not start {python}: {exc}") from exc
        finally:
            theirs.close()
        ours.setblocking(False)
        zygote = cls(process, ours, on_death)
        try:
            await zygote._wait_ready()
        except BaseException:  # also cancelled: a half-started zygote must not linger
            zygote._stopping = True
            zygote.kill()
            zygote._died()
            raise
        return zygote

    async def _wait_ready(self) -> None:
        done, _ = await asyncio.wait({self._ready, self._gone}, timeout=READY_TIMEOUT_SECONDS,
                                     return_when=asyncio.FIRST_COMPLETED)
        if self._ready in done:
            return
        self.kill()
        await self.process.wait()
        why = "exited" if done else f"not ready within {READY_TIMEOUT_SECONDS:g} s"
        raise ZygoteUnavailable(f"the fork server {why} (exit status {self.process.returncode})")

    async def order(self, data: bytes) -> Order:
        """Send one run's order (its JSON body); await `order.started` next."""
        if not self.alive:
            raise ZygoteDied
        loop = asyncio.get_running_loop()
        self._next_id += 1
        order = Order(self._next_id, loop.create_future(), loop.create_future())
        self._orders[order.id] = order
        stdin = self.process.stdin
        assert stdin is not None
        try:
            stdin.write(_HEADER.pack(len(data), order.id) + data)
            await stdin.drain()  # only waits when a large order fills the pipe
        except (ConnectionError, OSError):
            self._died()
        return order

    def kill(self) -> None:
        """Kill the zygote itself (not its runs); its death is noticed on the socket."""
        # Not Process.send_signal: it polls first, reaping the zombie behind the back of
        # asyncio's child watcher, which then reports a made-up exit status 255.
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    async def stop(self) -> None:
        """EOF on its stdin: it kills and reaps its runs, reports them, and exits."""
        self._stopping = True
        stdin = self.process.stdin
        if stdin is not None:
            stdin.close()
        _, pending = await asyncio.wait({self._gone}, timeout=STOP_GRACE_SECONDS)
        if pending:
            self.kill()
        await self.process.wait()
        self._died()  # if the socket has not told us yet

    async def wait_exited(self) -> None:
        await self.process.wait()

    # Reports ------------------------------------------------------------------------------

    def _on_readable(self) -> None:
        while self.alive:
            try:
                data, fds, _flags, _address = socket.recv_fds(
                    self._reports, _REPORT_MAX_BYTES, 3, socket.MSG_CMSG_CLOEXEC
                )
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.error("reading the fork server's reports failed: %s", exc)
                self._died()
                return
            if not data:  # EOF: the zygote exited
                _close(fds)
                self._died()
                return
            try:
                self._dispatch(json.loads(data), fds)
            except (ValueError, KeyError, TypeError) as exc:  # a bug of ours: say it loudly
                log.error("unreadable report from the fork server: %r (%s)", data[:200], exc)
                _close(fds)

    def _dispatch(self, message: dict[str, Any], fds: list[int]) -> None:
        kind = message["type"]
        if kind == "ready":
            if not self._ready.done():
                self._ready.set_result(None)
            return
        order = self._orders.get(message["id"])
        if kind == "started":
            self._started(order, message["pid"], fds)
            return
        _close(fds)
        if order is None:
            return
        if kind == "refused":
            del self._orders[order.id]
            if not order.started.done():
                order.started.set_exception(ForkRefused(message["error"]))
        elif kind == "exited":
            del self._orders[order.id]
            if not order.exited.done():
                order.exited.set_result(message["returncode"])

    def _started(self, order: Order | None, pid: int, fds: list[int]) -> None:
        if order is None or order.started.done() or len(fds) != 3:
            # Nobody waits for this run any more (cancelled, or gave up): it must not run.
            _kill_group(pid)
            _close(fds)
            return
        order.pid = pid
        order.started.set_result((pid, fds[0], fds[1], fds[2]))

    def _died(self) -> None:
        if not self.alive:
            return
        self.alive = False
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._reports.fileno())
        self._reports.close()
        self.kill()  # the socket may have failed with the process still there
        for order in self._orders.values():
            if not order.started.done():
                order.started.set_exception(ZygoteDied())
            if not order.exited.done():
                order.exited.set_result(None)
        self._orders.clear()
        if not self._gone.done():
            self._gone.set_result(None)
        if self._ready.done() and not self._stopping:  # a failed start is the caller's error
            self._on_death(self)


class ReportedStatus:
    """A run's status pipe: `status` resolves to the exit status its child reported just
    before exiting, or None if the pipe closed without one (the child died on the way)."""

    def __init__(self, fd: int) -> None:
        self._loop = asyncio.get_running_loop()
        self._fd = fd
        self._data = b""
        self.status: asyncio.Future[int | None] = self._loop.create_future()
        os.set_blocking(fd, False)
        self._loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        try:
            chunk = os.read(self._fd, 64)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        self._data = (self._data + chunk)[:64]
        if chunk and not self._data.endswith(b"\n"):
            return
        value = self._data.strip()
        self._finish(int(value) if value.lstrip(b"-").isdigit() else None)

    def _finish(self, status: int | None) -> None:
        if not self.status.done():
            self.status.set_result(status)
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
        if not self.status.done():
            self.status.set_result(None)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _close(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
