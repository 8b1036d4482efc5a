"""The fork server ("zygote"): a small warm Python that forks one child per python3 run.

Standalone on purpose: stdlib only, no runplane imports, so it stays small (each fork copies
its page tables) and never carries the API server's state. ZygoteExecutor starts it as
``python -I -X utf8 zygote.py REPORT_FD`` in its own session.

Orders arrive on stdin, each a header (4-byte big-endian body length, 8-byte order id) and a
JSON body ``{"workdir", "env", "owner": [uid, gid] | null, "request": <python_child request>}``
that the zygote does not parse: the child does. Reports go out on REPORT_FD, a SOCK_SEQPACKET
socket, one JSON object per packet:

    {"type": "ready", "pid"}                        once, when warm
    {"type": "started", "id", "pid"}                with the read ends of the child's stdout,
                                                    stderr and status pipes (SCM_RIGHTS)
    {"type": "refused", "id", "error"}              could not make the pipes or fork
    {"type": "exited", "id", "pid", "returncode"}   reaped; -N means killed by signal N

A child that gets through its run writes its exit status to its status pipe, after closing
its stdout and stderr, just before it exits: the executor learns that the run has ended
without waiting for the kernel to tear the process down (most of a trivial run's time).

One child is forked ahead of need: the spare. Forking CPython and the first steps after it
(copy-on-write faults, at-fork hooks, session, descriptors) cost about a millisecond; the
spare has paid that already and waits on a pipe for its order, so a run starts at once.

On EOF on stdin (the executor closed or died) it kills every running group, reaps, and exits.

Every fork write-protects all of the zygote's pages, so each page its loop then writes is
copied (about 4 us each on this project's virtual machines). The loop therefore allocates
little: reports formatted from bytes templates, try/except rather than contextlib.suppress
(an object per use), /proc read with os.read rather than a file object.
"""

from __future__ import annotations

# What scripts commonly import, loaded once here so each forked run starts warm. Cheap
# standard modules only: anything here costs every fork a little more in page tables.
# Not threading (nor logging and subprocess, which import it): with threading loaded every
# fork costs the child about 0.3 ms more CPU (measured: 0.33 -> 0.62 ms for a bare fork), a
# third of a trivial run. Not random (nor tempfile, which imports it) either: it reseeds in
# every forked child (0.17 ms). A script that imports them pays their import instead.
import _signal  # type: ignore[import-not-found]
import base64  # noqa: F401
import collections  # noqa: F401
import contextlib
import copy  # noqa: F401
import csv  # noqa: F401
import ctypes
import dataclasses
import datetime  # noqa: F401
import decimal  # noqa: F401
import functools  # noqa: F401
import gc
import hashlib  # noqa: F401
import importlib.util
import io  # noqa: F401
import ipaddress  # noqa: F401
import itertools  # noqa: F401
import json
import math  # noqa: F401
import os
import pathlib  # noqa: F401
import re  # noqa: F401
import select
import shutil  # noqa: F401
import signal
import socket
import string  # noqa: F401
import struct
import sys
import textwrap  # noqa: F401
import time  # noqa: F401
import traceback
import types
import typing  # noqa: F401
import urllib.parse  # noqa: F401
import uuid  # noqa: F401
from typing import Any, NoReturn

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
# Exit status of a child that could not even be set up (credentials, directory...).
SETUP_FAILED = 126
_HEADER = struct.Struct(">IQ")  # body length, order id
_WARM_UP_ORDER = json.dumps({
    "workdir": "/", "owner": None,
    "env": {name: "/tmp/runplane-run-warm-up" for name in (
        "PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "PYTHONDONTWRITEBYTECODE",
        "PYTHONIOENCODING", "RUNPLANE_RUN_DIR")},
    "request": {"source": "import sys\nvalue = [str(n) for n in range(100)]\n",
                "args": {"key": [1, 2.5, "text", None, True]}, "config": {}, "meta": {},
                "limits": {}, "mode": "script"},
})
# Where a spare child finds the pipe its order will come through, and the one it reports
# its exit status on.
_ORDER_FD = 3
STATUS_FD = 4
_READ_CHUNK = 1 << 20
# The two reports of every run, formatted without building a dict and encoding it each time.
_STARTED = b'{"type": "started", "id": %d, "pid": %d}'
_EXITED = b'{"type": "exited", "id": %d, "pid": %d, "returncode": %d}'
# Enough passes for CPython 3.11 to quicken and specialize the code of a run (see _rehearse).
REHEARSALS = 200

_libc = ctypes.CDLL(None, use_errno=True)
# The runs' confinement (confine.Prepared), made ready once in main(); None: unconfined.
_policy: Any = None


def main() -> None:
    reports = socket.socket(fileno=int(sys.argv[1]))
    child_module = _load_sibling("python_child")
    if len(sys.argv) > 2:
        global _policy
        policy = json.loads(sys.argv[2])
        _policy = _load_sibling("confine").Prepared(policy["read"], policy["devices"],
                                                   policy["write"])
        _policy.empty_bounding_set()  # once here, for every run forked
    # Orphaned grandchildren of runs are re-parented to us rather than to PID 1, which in a
    # container may be a process that never reaps them: we reap them.
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)  # SIGCHLD wakes poll() through this pipe
    signal.signal(signal.SIGCHLD, lambda _signum, _frame: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only EOF on stdin stops us
    _rehearse(child_module)
    gc.collect()
    gc.freeze()  # warm objects stay out of the collector: fewer pages copied after fork
    server = ForkServer(reports, child_module)
    server.report({"type": "ready", "pid": os.getpid()})
    server.serve(wake_r)


def _load_sibling(name: str) -> types.ModuleType:
    # By path, not through sys.path: -I leaves this directory off it, and putting it on
    # would let scripts import runplane's engine modules by their bare names.
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"runplane_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@dataclasses.dataclass
class Spare:
    """A child forked ahead of need: its output pipes' read ends and its order pipe."""

    pid: int
    stdout_r: int
    stderr_r: int
    order_w: int
    status_r: int


class ForkServer:
    def __init__(self, reports: socket.socket, child_module: types.ModuleType) -> None:
        self.reports = reports
        self.child_module = child_module
        # pid -> order id until reaped; None for the spare, which has no order yet.
        self.children: dict[int, int | None] = {}
        self.spare: Spare | None = None
        # False after a spare died without an order: fork the next one only when needed,
        # so a spare that cannot even start never turns into a fork loop.
        self._refill = True
        self._fork_error = ""
        self._orders = bytearray()
        self._children_path = f"/proc/self/task/{os.getpid()}/children"

    def serve(self, wake_fd: int) -> None:
        poller = select.poll()
        poller.register(0, select.POLLIN)
        poller.register(wake_fd, select.POLLIN)
        self.spare = self.fork_spare()
        while True:
            for fd, _events in poller.poll():
                if fd == wake_fd:
                    _drain(wake_fd)
                    self.reap()
                elif not self.read_orders():
                    self.shutdown()
                    return
            # Idle, no run in flight: prepare the next run's process. Not while a run is in
            # flight, whose CPU the spare's own start would take on a small machine.
            if self.spare is None and self._refill and not self.running() and not poller.poll(0):
                self.spare = self.fork_spare()

    def running(self) -> bool:
        return any(order_id is not None for order_id in self.children.values())

    def read_orders(self) -> bool:
        """Read what stdin has and launch every complete order; False at EOF."""
        data = os.read(0, _READ_CHUNK)
        if not data:
            return False
        self._orders += data
        while len(self._orders) >= _HEADER.size:
            size, order_id = _HEADER.unpack_from(self._orders)
            end = _HEADER.size + size
            if len(self._orders) < end:
                break
            body = bytes(self._orders[_HEADER.size:end])
            del self._orders[:end]
            self.launch(order_id, body)
        return True

    def launch(self, order_id: int, body: bytes) -> None:
        # No spare (runs in flight, or just started): fork now; its order is already here.
        spare, self.spare = self.spare or self.fork_spare(warm=False), None
        self._refill = True
        if spare is None:
            self.report({"type": "refused", "id": order_id, "error": self._fork_error})
            return
        self.children[spare.pid] = order_id
        try:
            _write_all(spare.order_w, body)
        except OSError:
            pass  # the spare died (killed from outside): reaping reports its exit
        finally:
            _close(spare.order_w)
        try:
            self.send(_STARTED % (order_id, spare.pid),
                      fds=[spare.stdout_r, spare.stderr_r, spare.status_r])
        finally:
            _close(spare.stdout_r, spare.stderr_r, spare.status_r)

    def fork_spare(self, warm: bool = True) -> Spare | None:
        """Fork the next run's process; None (and `_fork_error`) if the system refuses."""
        pipes: list[int] = []
        try:
            for _ in range(4):
                pipes += os.pipe()
            out_r, out_w, err_r, err_w, order_r, order_w, status_r, status_w = pipes
            _flush_stdio()  # nothing of ours may be written again by the child
            zygote_pid = os.getpid()
            pid = os.fork()
        except OSError as exc:
            _close(*pipes)
            self._fork_error = str(exc)
            return None
        if pid == 0:
            self._become_run(out_w, err_w, order_r, status_w, zygote_pid, warm)
        _close(out_w, err_w, order_r, status_w)
        self.children[pid] = None
        return Spare(pid, out_r, err_r, order_w, status_r)

    def _become_run(
        self, out_w: int, err_w: int, order_r: int, status_w: int, zygote_pid: int,
        warm: bool,
    ) -> NoReturn:
        """In the forked child: set up, wait for the order, run the script, never return."""
        status = SETUP_FAILED
        try:
            self.reports.detach()  # its descriptor is closed below; never close it again
            _detach_from_zygote(out_w, err_w, order_r, status_w, zygote_pid)
            if warm and not select.select([_ORDER_FD], [], [], 0)[0]:  # not if it is here
                _warm_up(self.child_module)
            # What every run may reach, while the order is on its way (its directory then).
            ruleset = _policy.begin() if _policy is not None else None
            order = _read_order()
            if order is None:  # the zygote is shutting down
                status = 0
            else:
                _become(order, ruleset)
                status = self.child_module.run(order["request"])
                self.child_module.finish_process()
                _report_status(status)
        except BaseException as exc:
            with contextlib.suppress(BaseException):
                os.write(2, f"runplane: could not start the run: {exc!r}\n".encode())
                traceback.print_exc()
                sys.stderr.flush()
        finally:
            os._exit(status)

    def reap(self) -> None:
        """Reap every exited child; a run's group is killed while its leader is a zombie."""
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:  # no child at all
                break
            if info is None or info.si_pid == 0:  # none has exited
                break
            pid = info.si_pid
            if pid in self.children:
                # Unreaped, the pid cannot be reused: killing its group hits only what the
                # script left behind.
                _kill_group(pid)
            order_id = self.children.pop(pid, None)
            if self.spare is not None and self.spare.pid == pid:  # killed from outside
                _close(self.spare.stdout_r, self.spare.stderr_r, self.spare.order_w)
                self.spare = None
                self._refill = False
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            if order_id is not None:
                self.send(_EXITED % (order_id, pid, _returncode(info)))
        self.kill_strays()

    def kill_strays(self) -> None:
        """Kill orphans re-parented to us that belong to no running run.

        A process that left its run's session with setsid() escapes the group kill; once the
        processes above it are gone it becomes our child (we are a subreaper) with a session
        of no live run, and dies here. An orphan still in a live run's session is spared until
        that run ends. Each kill brings a SIGCHLD, hence another pass, for the victim's own
        orphans.
        """
        try:  # os.open rather than open(): no file object, buffer and decoder every reap
            listing = os.open(self._children_path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                pids = [int(token) for token in _read_all(listing).split()]
            finally:
                os.close(listing)
        except OSError:  # a kernel without CONFIG_PROC_CHILDREN: setsid escapes stay
            return
        for pid in pids:
            if pid not in self.children and _session(pid) not in self.children:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    def shutdown(self) -> None:
        for pid in self.children:
            _kill_run(pid)
        for pid, order_id in list(self.children.items()):
            with contextlib.suppress(ChildProcessError):
                _, status = os.waitpid(pid, 0)
                if order_id is not None:
                    self.send(_EXITED % (order_id, pid, os.waitstatus_to_exitcode(status)))
        self.children.clear()
        self.kill_strays()

    def report(self, message: dict[str, Any]) -> None:
        self.send(json.dumps(message).encode())

    def send(self, data: bytes, fds: list[int] | None = None) -> None:
        """One report; the frequent ones are formatted from _STARTED and _EXITED."""
        try:
            if fds:
                socket.send_fds(self.reports, [data], fds)
            else:
                self.reports.send(data)
        except OSError:  # the executor gone: stdin reaches EOF next and we shut down
            pass


def _detach_from_zygote(out_w: int, err_w: int, order_r: int, status_w: int,
                        zygote_pid: int) -> None:
    """What every run needs, done before its order arrives."""
    os.setsid()  # its own session and process group: killable as a whole, apart from us
    signal.set_wakeup_fd(-1)
    # The C module under `signal`: the wrapper turns the old handler it returns into an enum
    # member, which for a function means raising and catching a ValueError, about 60 pages
    # copied in a fresh child.
    _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
    _signal.signal(_signal.SIGINT, _signal.default_int_handler)  # as in a fresh interpreter
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    # In this order: pipes are made after 0-2 are open and status_w is made last, so no
    # target below is a descriptor still to be copied.
    os.dup2(order_r, _ORDER_FD)
    os.dup2(status_w, STATUS_FD)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    # Orders, reports, the wake pipe, other runs' pipes: nothing else may leak into a run.
    os.closerange(STATUS_FD + 1, os.sysconf("SC_OPEN_MAX"))
    os.set_inheritable(STATUS_FD, False)  # not for what the script starts
    _die_with(zygote_pid)
    _set_environment({})  # filled with the run's own variables when the order comes


def _warm_up(child_module: types.ModuleType) -> None:
    """While waiting for an order, take the copy-on-write faults a run would take anyway.

    After fork every page is shared with the zygote, and the first write to one (a refcount,
    a free list, an environment slot) copies it: a few microseconds each, hundreds per run.
    Going once through what every run does moves most of them off the run's critical path.
    """
    order = json.loads(_WARM_UP_ORDER)
    _set_environment(order["env"])
    child_module.rehearse(order["request"])
    _set_environment({})


def _rehearse(child_module: types.ModuleType) -> None:
    """Go through a run's steps here, in the zygote, many times before the first fork.

    CPython 3.11 rewrites a function's bytecode in place as it warms up: a counter on every
    call until the function is quickened, then counters and specialized instructions. Code
    that only forked children ran stayed cold in the zygote, so every child wrote to those
    code objects again, copying the pages they live on (about one run's fault in ten).
    Warmed here, that code is already specialized in every child. The zygote's environment,
    __main__ and argv are put back afterwards.
    """
    saved_env, saved_main, saved_argv = dict(os.environ), sys.modules["__main__"], sys.argv
    try:
        for _ in range(REHEARSALS):
            _warm_up(child_module)
    finally:
        sys.modules["__main__"], sys.argv = saved_main, saved_argv
        _set_environment(saved_env)


def _set_environment(env: dict[str, str]) -> None:
    """Make `env` the whole environment, of os.environ and of what exec passes on (os.environb
    shares os.environ's data)."""
    # Not os.environ.clear(): it pops items until a KeyError, and raising costs pages too.
    for key in [key for key in os.environ if key not in env]:
        del os.environ[key]
    os.environ.update(env)


def _report_status(status: int) -> None:
    """The run is over: its output is closed, then its exit status is reported at once; the
    process's teardown (which the zygote reaps) then costs the run nothing."""
    with contextlib.suppress(OSError):
        os.close(1)
        os.close(2)
    with contextlib.suppress(OSError):
        os.write(STATUS_FD, b"%d\n" % status)


def _read_order() -> dict[str, Any] | None:
    data = _read_all(_ORDER_FD, _READ_CHUNK)
    os.close(_ORDER_FD)
    return json.loads(data) if data else None


def _become(order: dict[str, Any], ruleset: int | None) -> None:
    """The run's own identity, directory, environment and confinement."""
    owner = order.get("owner")
    if owner is not None:
        zygote_pid = os.getppid()
        uid, gid = owner
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
        _die_with(zygote_pid)  # a uid change cleared it
    os.chdir(order["workdir"])
    _set_environment(order["env"])
    if ruleset is not None:  # raises rather than run a script less confined than promised
        _policy.finish(ruleset, order["workdir"])


def _die_with(zygote_pid: int) -> None:
    # If the zygote dies, the run dies with it. Had it died already, before this was set,
    # our parent would no longer be the zygote.
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != zygote_pid:
        raise RuntimeError("the fork server died while this run was starting")


def _read_all(fd: int, chunk_size: int = 65536) -> bytes:
    """Everything up to EOF."""
    chunks = []
    while chunk := os.read(fd, chunk_size):
        chunks.append(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _session(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[3])  # state ppid pgrp session
    except (OSError, ValueError, IndexError):
        return None


def _returncode(info: os.waitid_result) -> int:
    # The subprocess convention: the exit status, or -N for a child killed by signal N.
    if info.si_code == os.CLD_EXITED:
        return info.si_status
    return -info.si_status


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_run(pid: int) -> None:
    """Kill a run's group, and the child itself: a child forked a moment ago may not have
    called setsid() yet, and would then be in no group of its own (ours is never killed)."""
    _kill_group(pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)  # our unreaped child: its pid cannot have been reused


def _prctl(option: int, value: int) -> None:
    # Best effort: both are refinements, a kernel without them still runs scripts.
    _libc.prctl(option, value, 0, 0, 0)


def _drain(fd: int) -> None:
    with contextlib.suppress(BlockingIOError):
        while os.read(fd, 4096):
            pass


def _flush_stdio() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a broken stream: nothing of ours is lost
            pass


def _close(*fds: int) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


if __name__ == "__main__":
    main()
