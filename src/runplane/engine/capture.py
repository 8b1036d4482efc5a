"""A run's stdout and stderr: the first N bytes of both together are kept, the rest drained.

Both executors use it: the spawn executor through its subprocess protocol, the zygote executor
through `PipeDrain` over pipe read ends the fork server handed back.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from functools import partial

STDOUT, STDERR = 1, 2


class CappedOutput:
    """Keeps the first `cap` bytes of stdout and stderr together and counts the rest."""

    def __init__(self, cap: int) -> None:
        self._room = max(0, cap)
        self._chunks: dict[int, list[bytes]] = {STDOUT: [], STDERR: []}
        self.dropped = 0

    def add(self, fd: int, data: bytes) -> None:
        kept = data[: self._room]
        if kept:
            self._chunks[fd].append(kept)
            self._room -= len(kept)
        self.dropped += len(data) - len(kept)

    def text(self, fd: int) -> str:
        # Scripts may write any bytes; a cut may also split a UTF-8 sequence.
        return b"".join(self._chunks[fd]).decode("utf-8", errors="replace")

    @property
    def truncated(self) -> bool:
        return self.dropped > 0


class _PipeReader(asyncio.Protocol):
    def __init__(self, fd: int, drain: PipeDrain) -> None:
        self.fd = fd
        self.drain = drain

    def data_received(self, data: bytes) -> None:
        self.drain.output.add(self.fd, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.drain.pipe_closed(self.fd)


class PipeDrain:
    """Reads two pipe read ends (stdout, stderr) as data arrives, until both reach EOF.

    Reading all the time, also past the cap, is what keeps a chatty child from blocking on a
    full pipe. `close()` stops reading even if a stray process still holds the write ends.
    """

    def __init__(self, output: CappedOutput) -> None:
        self.output = output
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._open: set[int] = {STDOUT, STDERR}
        self._transports: list[asyncio.BaseTransport] = []

    @classmethod
    async def open(cls, stdout_fd: int, stderr_fd: int, output: CappedOutput) -> PipeDrain:
        """Take ownership of both descriptors (closed by `close`, also if this fails)."""
        drain = cls(output)
        loop = asyncio.get_running_loop()
        pending = {STDOUT: stdout_fd, STDERR: stderr_fd}
        try:
            for label in (STDOUT, STDERR):
                pipe = open(pending.pop(label), "rb", buffering=0)  # noqa: SIM115 (transport owns it)
                reader = partial(_PipeReader, label, drain)
                transport, _ = await loop.connect_read_pipe(reader, pipe)
                drain._transports.append(transport)
        except BaseException:
            for fd in pending.values():
                with contextlib.suppress(OSError):
                    os.close(fd)
            drain.close()
            raise
        return drain

    def pipe_closed(self, fd: int) -> None:
        self._open.discard(fd)
        if not self._open and not self.closed.done():
            self.closed.set_result(None)

    def close(self) -> None:
        for transport in self._transports:
            transport.close()
