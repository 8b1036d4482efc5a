"""A run's private directory, its environment, and the files exchanged through it.

Each run gets a fresh ``runplane-run-*`` directory as its working directory, HOME and TMPDIR;
it is removed when the run ends, whatever the script did to it. By default these directories
are made in memory (see `choose_work_root`). In snippet mode the child
leaves its results in RESULT_FILENAME there, which the executor reads back (carefully: the
script controls that directory).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import pwd
import shutil
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runplane.engine.execution import BatchOutcome, ExecutionRequest, Limits
from runplane.engine.python_child import RESULT_MAX_BYTES

RESULT_FILENAME = ".runplane-result.json"
RUN_DIR_PREFIX = "runplane-run-"
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
CPU_SECONDS_MARGIN = 5
# The child caps what it writes; anything larger was not written by it.
_RESULT_READ_MAX = RESULT_MAX_BYTES + 64 * 1024
_BEGIN_LINE_MAX = 64  # {"begin": N} and the newline
_READ_CHUNK = 1 << 16
MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})
SHARED_MEMORY = "/dev/shm"
# Below this much free room /dev/shm is not used by default (a container's is often 64 MB).
SHARED_MEMORY_MIN_FREE = 1 << 30


@dataclass(frozen=True)
class WorkRoot:
    """Where run directories are made, and whether that filesystem lives in memory."""

    path: str
    in_memory: bool


def choose_work_root(configured: str | None) -> WorkRoot:
    """The configured root, else the system temp directory if it is in memory, else
    /dev/shm if it is a tmpfs with room, else the system temp directory on disk.

    A run directory lives for one run. On a disk filesystem its creation and its removal are
    each a journaled metadata change (about 75 us apiece on this project's machines, several
    times that under load); on tmpfs each costs about 5 us, which at hundreds of runs a second
    is a noticeable share of a core. What a script writes there takes memory instead of disk:
    RUNPLANE_WORK_ROOT points runs that write large files elsewhere.
    """
    if configured is not None:
        return WorkRoot(configured, filesystem_type(configured) in MEMORY_FILESYSTEMS)
    temp = tempfile.gettempdir()
    if filesystem_type(temp) in MEMORY_FILESYSTEMS:
        return WorkRoot(temp, True)
    if (filesystem_type(SHARED_MEMORY) in MEMORY_FILESYSTEMS
            and os.access(SHARED_MEMORY, os.W_OK | os.X_OK)
            and _free_bytes(SHARED_MEMORY) >= SHARED_MEMORY_MIN_FREE):
        return WorkRoot(SHARED_MEMORY, True)
    return WorkRoot(temp, False)


def filesystem_type(path: str) -> str | None:
    """The type of the filesystem `path` is (or would be) on, from /proc/self/mountinfo."""
    target = os.path.realpath(path)
    found, found_type = "", None
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as mounts:
            for line in mounts:
                before, _, after = line.partition(" - ")
                fields = before.split()
                if len(fields) < 5 or not after:
                    continue
                # Spaces and the like in mount points are octal escapes (\040).
                point = fields[4].encode().decode("unicode_escape")
                inside = target == point or target.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(found):  # the last of equals is on top
                    found, found_type = point, after.split()[0]
    except OSError:  # no /proc: assume a disk
        return None
    return found_type


def _free_bytes(path: str) -> int:
    try:
        info = os.statvfs(path)
    except OSError:
        return 0
    return info.f_bavail * info.f_frsize


def run_as(uid: int | None, gid: int | None) -> tuple[int, int] | None:
    """The (uid, gid) runs switch to, or None to stay as the server's user.

    A uid alone takes that user's primary group (or the same number), never the server's.
    """
    if uid is None and gid is None:
        return None
    if uid is None:
        uid = os.geteuid()
    if gid is None:
        try:
            gid = pwd.getpwuid(uid).pw_gid
        except KeyError:
            gid = uid
    return uid, gid


def make_workdir(work_root: str, owner: tuple[int, int] | None = None) -> str:
    """A new private directory; `owner` (uid, gid): the user the run will switch to."""
    # The pid in the name lets a later executor sweep what a crashed process left behind.
    prefix = f"{RUN_DIR_PREFIX}{os.getpid()}-"
    try:
        path = tempfile.mkdtemp(prefix=prefix, dir=work_root)
    except FileNotFoundError:  # the root itself is not there (yet, or any more)
        os.makedirs(work_root, mode=0o700, exist_ok=True)
        path = tempfile.mkdtemp(prefix=prefix, dir=work_root)
    if owner is not None:
        try:
            os.chown(path, *owner)
        except OSError:
            remove_tree(path)
            raise
    return path


class Janitor:
    """Removes run directories, in the background when that may wait for a disk.

    On a busy disk removing even an empty directory can take milliseconds (a journal to
    join): there the removal starts at once in a thread, and `drain` waits for all of them (an
    executor's close), so "removed afterwards" still holds. In memory an empty directory (what
    most runs leave) is removed at once, here: a thread hop would cost ten times as much.
    """

    def __init__(self, in_memory: bool = False) -> None:
        self.in_memory = in_memory
        self._pending: set[asyncio.Future[None]] = set()

    def discard(self, root: str) -> None:
        if self.in_memory:
            try:
                os.rmdir(root)
                return
            except OSError:  # not empty (or already gone): the thread's careful removal
                pass
        # Submitted now, not when a task would first run: the loop may be idle until later.
        future = asyncio.get_running_loop().run_in_executor(None, remove_tree, root)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    async def drain(self) -> None:
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    def sweep(self, work_root: str) -> None:
        """Remove run directories left by processes that died (SIGKILL, power loss...)."""
        with contextlib.suppress(OSError):
            for name in os.listdir(work_root):
                if _orphaned(name):
                    self.discard(os.path.join(work_root, name))


def _orphaned(name: str) -> bool:
    """A run dir whose owner process is gone (a reused pid keeps it, on the safe side)."""
    owner, dash, _random = name.removeprefix(RUN_DIR_PREFIX).partition("-")
    if not name.startswith(RUN_DIR_PREFIX) or not dash or not owner.isdigit():
        return False
    try:
        os.kill(int(owner), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, under another user
        return False
    return False


def remove_tree(root: str) -> None:
    """Remove a run directory, even when the script made parts of it read-only."""
    with contextlib.suppress(OSError):
        os.rmdir(root)  # what most runs leave: an empty directory
        return
    failures: list[str] = []
    shutil.rmtree(root, onerror=lambda _func, path, _exc: failures.append(path))
    if failures or os.path.lexists(root):
        _make_dirs_writable(root)
        shutil.rmtree(root, ignore_errors=True)


def _make_dirs_writable(root: str) -> None:
    # Directories only, never through a symlink: chmod follows links, and a script could
    # point one at a directory outside its own.
    _chmod_dir(root)
    for parent, dirnames, _files in os.walk(root):
        for name in dirnames:
            _chmod_dir(os.path.join(parent, name))  # before os.walk lists it


def _chmod_dir(path: str) -> None:
    with contextlib.suppress(OSError):
        if stat.S_ISDIR(os.lstat(path).st_mode):
            os.chmod(path, stat.S_IRWXU)


def base_env(workdir: str) -> dict[str, str]:
    """The whole environment of a script: nothing of the server's leaks through."""
    return {
        "PATH": SAFE_PATH,
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
        "RUNPLANE_RUN_DIR": workdir,
    }


def cpu_seconds(limits: Limits, runs: int = 1) -> int:
    # A backstop only: the wall-clock timeout is what normally ends a busy script. A batch
    # runs its targets in turn, each with the whole timeout.
    return math.ceil(limits.timeout_seconds * max(1, runs)) + CPU_SECONDS_MARGIN


def python_document(request: ExecutionRequest, workdir: str) -> dict[str, Any]:
    """What python_child.run is given, whichever way the child process was made."""
    limits = request.limits
    document: dict[str, Any] = {
        "source": request.source,
        "args": request.args,
        "config": request.config,
        "meta": request.meta,
        "limits": {
            "memory_bytes": limits.memory_bytes,
            "file_size_bytes": limits.file_size_bytes,
            "open_files": limits.open_files,
            "cpu_seconds": cpu_seconds(limits, request.batch_size),
        },
        "mode": request.mode,
    }
    if request.mode in ("snippet", "snippet_batch"):
        document["context"] = request.context
        document["result_path"] = os.path.join(workdir, RESULT_FILENAME)
    if request.mode == "snippet_batch":
        document["target_timeout"] = limits.timeout_seconds
        document["output_bytes"] = limits.output_bytes
    return document


def result_progress(request: ExecutionRequest, workdir: str) -> Callable[[], int] | None:
    """For a batch: a measure that grows each time a target begins or ends (the size of the
    results file), so its watchdog can give each target its own timeout."""
    if request.mode != "snippet_batch":
        return None
    path = os.path.join(workdir, RESULT_FILENAME)

    def size() -> int:
        try:
            return os.stat(path, follow_symlinks=False).st_size
        except OSError:
            return 0

    return size


def read_value(request: ExecutionRequest, workdir: str) -> Any:
    """The snippet's results document (a BatchOutcome for a batch), or None: script mode,
    nothing written, or not JSON."""
    if request.mode == "snippet_batch":
        return _read_batch(workdir, request.batch_size)
    if request.mode != "snippet":
        return None
    data = _read_result(workdir, _RESULT_READ_MAX)
    if data is None:
        return None
    try:
        # NaN and Infinity are kept as text: a JSON column would refuse them.
        return json.loads(data, parse_constant=str)
    except ValueError:  # also UnicodeDecodeError
        return None


def _read_batch(workdir: str, count: int) -> BatchOutcome:
    # Each target's line is capped by the child as a snippet's result is.
    data = _read_result(workdir, count * (_RESULT_READ_MAX + 2 * _BEGIN_LINE_MAX)) or b""
    finished: list[dict[str, Any]] = []
    begun = 0
    for line in data.splitlines():
        try:
            entry = json.loads(line, parse_constant=str)
        except ValueError:
            break  # a line cut short by the process's end, or not the child's
        if not isinstance(entry, dict):
            break
        if entry.get("begin") == begun and begun < count:
            begun += 1
        elif entry.get("index") == len(finished) == begun - 1:
            finished.append(entry)
        else:
            break
    return BatchOutcome(finished=finished, begun=begun)


def _read_result(workdir: str, most: int) -> bytes | None:
    path = os.path.join(workdir, RESULT_FILENAME)
    # The script owns the directory: no following a symlink it planted (to a secret, or to
    # /dev/zero), no blocking on a FIFO, and never more than the child could have written.
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks, size = [], 0
        while size <= most and (chunk := os.read(fd, min(_READ_CHUNK, most + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    if size > most:
        return None
    return b"".join(chunks)
