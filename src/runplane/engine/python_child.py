"""Run one user script in this process, under resource limits.

Standalone on purpose: stdlib only, no runplane imports. It is started as
``python -I -X utf8 python_child.py`` with one JSON document on stdin:

    {"source": str, "args": any, "config": {...}, "meta": {...},
     "limits": {"memory_bytes", "file_size_bytes", "open_files", "cpu_seconds"}}

The script runs as ``__main__`` with ARGS, CONFIG and META as globals. Exit status: 0 on
success, the code of a ``SystemExit``, 1 for an uncaught exception (its traceback, from the
script's frames on, goes to stderr). A fork-server can reuse `run` with an already-parsed
request.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import linecache
import os
import resource
import sys
import traceback
import types
from typing import Any

SCRIPT_FILENAME = "<script>"
# The executor looks for this text to explain a failure as the memory limit.
MEMORY_ERROR_LINE = "MemoryError: script exceeded its memory limit"
# Freed on MemoryError so the traceback can still be formatted and printed.
_RESERVE_BYTES = 1 << 20


def main() -> int:
    request = json.loads(sys.stdin.buffer.read())
    return run(request)


def run(request: dict[str, Any]) -> int:
    """Apply limits, then compile and execute the script; answer the exit status."""
    sys.dont_write_bytecode = True  # -I ignores PYTHONDONTWRITEBYTECODE
    limits = request.get("limits") or {}
    _detach_stdin()  # before the RLIMIT_NOFILE cap, which may leave no spare descriptor
    _apply_limits(limits)
    source = request["source"]
    try:
        code = compile(source, SCRIPT_FILENAME, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:  # ValueError: NUL bytes in the source
        _print_exception(exc)
        return 1
    _remember_source(source)
    namespace = _install_main_module(request)
    return _execute(code, namespace, int(limits.get("memory_bytes") or 0))


def _detach_stdin() -> None:
    # The request was read to EOF; the script must see an empty stdin, not our pipe.
    fd = os.open(os.devnull, os.O_RDONLY)
    if fd != 0:
        os.dup2(fd, 0)
        os.close(fd)


def _apply_limits(limits: dict[str, Any]) -> None:
    pairs = (
        (resource.RLIMIT_AS, limits.get("memory_bytes"), 0),
        (resource.RLIMIT_FSIZE, limits.get("file_size_bytes"), 0),
        (resource.RLIMIT_NOFILE, limits.get("open_files"), 0),
        # One spare second between soft and hard: SIGXCPU first, SIGKILL only if ignored.
        (resource.RLIMIT_CPU, limits.get("cpu_seconds"), 1),
        (resource.RLIMIT_CORE, 0, 0),
    )
    for which, value, slack in pairs:
        if value is not None:
            _set_limit(which, int(value), slack)


def _set_limit(which: int, soft: int, slack: int) -> None:
    # Soft and hard both set, so the script cannot raise them back; never above the
    # hard limit we inherited, which an unprivileged process may not exceed.
    _, inherited_hard = resource.getrlimit(which)
    hard = soft + slack
    if inherited_hard != resource.RLIM_INFINITY:
        hard = min(hard, inherited_hard)
        soft = min(soft, hard)
    resource.setrlimit(which, (soft, hard))


def _remember_source(source: str) -> None:
    # Lets tracebacks show the script's lines; mtime None keeps checkcache from dropping it.
    linecache.cache[SCRIPT_FILENAME] = (
        len(source), None, source.splitlines(keepends=True), SCRIPT_FILENAME,
    )


def _install_main_module(request: dict[str, Any]) -> dict[str, Any]:
    # A real module as __main__, so pickle, dataclasses and typing find the script's names.
    module = types.ModuleType("__main__")
    module.__dict__.update(
        __builtins__=builtins,
        ARGS=request.get("args"),
        CONFIG=request.get("config") or {},
        META=request.get("meta") or {},
    )
    sys.modules["__main__"] = module
    sys.argv = [SCRIPT_FILENAME]
    return module.__dict__


def _execute(code: types.CodeType, namespace: dict[str, Any], memory_bytes: int) -> int:
    reserve: bytearray | None = bytearray(_RESERVE_BYTES)
    try:
        exec(code, namespace)
    except SystemExit as exc:
        return _exit_status(exc)
    except MemoryError as exc:
        reserve = None
        _print_exception(exc)
        _write_stderr(f"{MEMORY_ERROR_LINE} ({_megabytes(memory_bytes)})\n")
        return 1
    except BaseException as exc:  # KeyboardInterrupt too: any escape is a failed run
        _print_exception(exc)
        return 1
    finally:
        del reserve
    return 0


def _exit_status(exc: SystemExit) -> int:
    # Same rules as the interpreter: None is 0, an int is itself, anything else is printed.
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    _write_stderr(f"{code}\n")
    return 1


def _print_exception(exc: BaseException) -> None:
    try:
        traceback.print_exception(type(exc), exc, _script_frames(exc.__traceback__))
    except BaseException:  # formatting can itself fail (memory, broken __str__)
        _write_stderr(f"{type(exc).__name__}\n")


def _script_frames(tb: types.TracebackType | None) -> types.TracebackType | None:
    # Skip this runner's own frames: the user only needs to see their script.
    while tb is not None and tb.tb_frame.f_code.co_filename != SCRIPT_FILENAME:
        tb = tb.tb_next
    return tb


def _megabytes(size: int) -> str:
    if size <= 0:
        return "unknown size"
    return f"{size / (1024 * 1024):.3f}".rstrip("0").rstrip(".") + " MB"


def _write_stderr(text: str) -> None:
    # stderr closed or broken by the script: nowhere left to report.
    with contextlib.suppress(Exception):
        sys.stderr.write(text)


def _flush_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        # A broken pipe must not turn a success into a crash report.
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()


if __name__ == "__main__":
    status = main()
    _flush_streams()
    sys.exit(status)
