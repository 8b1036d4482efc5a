"""A run's stdout and stderr: the first N bytes of both together are kept, the rest drained.

Both executors use it: the spawn executor through its subprocess protocol, the zygote executor
through `PipeDrain` over pipe read ends the fork server handed back.
"""

from __future__ import annotations

import asyncio
import contextlib
import os

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


# One read per wake-up: what a pipe holds at most by default.
_READ_CHUNK = 1 << 16


class PipeDrain:
    """Reads two pipe read ends (stdout, stderr) as data arrives, until both reach EOF.

    Reading all the time, also past the cap, is what keeps a chatty child from blocking on a
    full pipe. `close()` stops reading even if a stray process still holds the write ends.

    Plain readers on the descriptors, closed here once each, rather than read-pipe transports
    over file objects: uvloop's transport closes the descriptor, then the file object closes
    the same number again, which by then may be a database file another thread just opened
    (seen as SQLITE_IOERR_READ and _WRITE under load).
    """

    def __init__(self, output: CappedOutput, fds: dict[int, int]) -> None:
        self.output = output
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._fds = fds  # label (STDOUT, STDERR) -> descriptor, while it is open

    @classmethod
    def open(cls, stdout_fd: int, stderr_fd: int, output: CappedOutput) -> PipeDrain:
        """Take ownership of both descriptors (closed by `close`, also if this fails)."""
        drain = cls(output, {STDOUT: stdout_fd, STDERR: stderr_fd})
        loop = asyncio.get_running_loop()
        try:
            for label, fd in list(drain._fds.items()):
                os.set_blocking(fd, False)
                loop.add_reader(fd, drain._readable, label)
        except BaseException:
            drain.close()
            raise
        return drain

    def _readable(self, label: int) -> None:
        fd = self._fds.get(label)
        if fd is None:
            return
        try:
            data = os.read(fd, _READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.output.add(label, data)
        else:  # EOF: every writer is gone
            self._stop(label)

    def _stop(self, label: int) -> None:
        fd = self._fds.pop(label, None)
        if fd is not None:
            asyncio.get_running_loop().remove_reader(fd)
            with contextlib.suppress(OSError):
                os.close(fd)
        if not self._fds and not self.closed.done():
            self.closed.set_result(None)

    def close(self) -> None:
        for label in list(self._fds):
            self._stop(label)
