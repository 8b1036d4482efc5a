"""Run one user script in this process, under resource limits.

Standalone on purpose: stdlib only, no runplane imports. It is started as
``python -I -X utf8 python_child.py`` with one JSON document on stdin:

    {"source": str, "args": any, "config": {...}, "meta": {...},
     "limits": {"memory_bytes", "file_size_bytes", "open_files", "cpu_seconds"},
     "mode": "script" | "snippet", "context": {"device": {...} | None, "payload": any},
     "result_path": str, "confine": <confine.py's policy> | None}

The script runs as ``__main__`` with ARGS, CONFIG and META as globals. Exit status: 0 on
success, the code of a ``SystemExit``, 1 for an uncaught exception (its traceback, from the
script's frames on, goes to stderr). The zygote (fork server) calls `run` and
`finish_process` with an already-parsed request instead.

Snippet mode (eNMS-style) adds the globals ``device``, ``payload``, ``results``, ``log``,
``exit``, ``get_var`` and ``set_var``; whatever happens to the snippet short of the process
dying, ``{"results", "logs", "logs_dropped", "variables"}`` is written as JSON to
``result_path`` for the executor to read.
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import io
import json
import linecache
import mmap
import os
import resource
import signal
import sys
import time
import traceback
import types
from typing import Any

SCRIPT_FILENAME = "<script>"
# The executor looks for this text to explain a failure as the memory limit.
MEMORY_ERROR_LINE = "MemoryError: script exceeded its memory limit"
# Freed on MemoryError so the traceback can still be formatted and printed.
_RESERVE_BYTES = 1 << 20
LOG_MAX_ENTRIES = 10_000
RESULT_MAX_BYTES = 1 << 20


def main() -> int:
    request = json.loads(sys.stdin.buffer.read())
    policy = request.get("confine")
    if policy is not None:  # spawned: confine ourselves (the zygote does it for its children)
        try:
            _load_confine().confine(policy["workdir"], policy["read"], policy["devices"],
                                    policy["write"])
        except OSError as exc:  # never run a script less confined than promised
            _write_stderr(f"runplane: could not confine the run: {exc}\n")
            return 126
    return run(request)


def _load_confine() -> types.ModuleType:
    # By path: -I leaves this directory off sys.path, and scripts must not import it by name.
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "confine.py")
    spec = importlib.util.spec_from_file_location("runplane_confine", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(request: dict[str, Any]) -> int:
    """Apply limits, then compile and execute the script; answer the exit status."""
    sys.dont_write_bytecode = True  # -I ignores PYTHONDONTWRITEBYTECODE
    limits = request.get("limits") or {}
    _detach_stdin()  # before the RLIMIT_NOFILE cap, which may leave no spare descriptor
    _apply_limits(limits)
    if request.get("mode") == "snippet_batch":
        return _run_batch(request, int(limits.get("memory_bytes") or 0))
    snippet = _Snippet(request) if request.get("mode") == "snippet" else None
    try:
        return _compile_and_execute(request, snippet, int(limits.get("memory_bytes") or 0))
    finally:
        if snippet is not None:
            snippet.write_result()


def rehearse(request: dict[str, Any]) -> None:
    """A script run's steps without its limits or its stdin: the zygote goes through them
    before it forks, so that their code is warm in every child."""
    _compile_and_execute(request, None, 0)
    _flush_streams()


def finish_process() -> None:
    """What the interpreter does at a normal exit; a forked child calls it before os._exit."""
    # Non-daemon threads are waited for and atexit handlers run, as after `python script.py`.
    threading = sys.modules.get("threading")  # never imported: no thread to wait for
    if threading is not None:
        with contextlib.suppress(BaseException):
            threading._shutdown()
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    _flush_streams()


def _compile_and_execute(
    request: dict[str, Any], snippet: _Snippet | None, memory_bytes: int
) -> int:
    source = request["source"]
    try:
        code = compile(source, SCRIPT_FILENAME, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:  # ValueError: NUL bytes in the source
        _print_exception(exc)
        return 1
    _remember_source(source)
    namespace = _install_main_module(request)
    if snippet is not None:
        snippet.install(namespace)
    return _execute(code, namespace, memory_bytes)


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
    # An anonymous mapping: address space (what RLIMIT_AS counts) without touching a page.
    # A bytearray would be zero-filled: 256 page faults, about a millisecond, on every run.
    reserve = mmap.mmap(-1, _RESERVE_BYTES)
    try:
        exec(code, namespace)
    except _SnippetExit:
        return 0
    except SystemExit as exc:
        return _exit_status(exc)
    except MemoryError as exc:
        reserve.close()
        _print_exception(exc)
        _write_stderr(f"{MEMORY_ERROR_LINE} ({_megabytes(memory_bytes)})\n")
        return 1
    except _TargetTimeout:  # a batch target's time is up: the batch reports it
        raise
    except BaseException as exc:  # KeyboardInterrupt too: any escape is a failed run
        _print_exception(exc)
        return 1
    finally:
        reserve.close()
    return 0


# --- snippet mode --------------------------------------------------------------------------


class _SnippetExit(BaseException):
    """Raised by a snippet's exit(): ends it early, as a success."""


class _Device:
    """A target device: `device.name` and `device["name"]` both read its attributes."""

    def __init__(self, attributes: dict[str, Any]) -> None:
        object.__setattr__(self, "_attributes", attributes)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._attributes[name]
        except KeyError:
            raise AttributeError(f"device has no attribute {name!r}") from None

    def __getitem__(self, name: str) -> Any:
        return self._attributes[name]

    def __contains__(self, name: object) -> bool:
        return name in self._attributes

    def get(self, name: str, default: Any = None) -> Any:
        return self._attributes.get(name, default)

    def to_dict(self) -> dict[str, Any]:
        return dict(self._attributes)

    def __repr__(self) -> str:
        return f"<device {self._attributes.get('name', '?')}>"


class _Snippet:
    """The snippet's globals, and what it leaves behind for the executor."""

    def __init__(self, request: dict[str, Any]) -> None:
        context = request.get("context") or {}
        device = context.get("device")
        self.device = _Device(device) if isinstance(device, dict) else None
        self.payload = context.get("payload", {})
        self.result_path: str | None = request.get("result_path")
        self.logs: list[dict[str, str]] = []
        self.logs_dropped = 0
        self.variables: dict[str, Any] = {}
        self.namespace: dict[str, Any] = {"results": {}}

    def install(self, namespace: dict[str, Any]) -> None:
        namespace.update(
            device=self.device, payload=self.payload, results={},
            log=self.log, exit=self.exit, get_var=self.get_var, set_var=self.set_var,
        )
        self.namespace = namespace

    def log(self, severity: str, message: Any) -> None:
        if len(self.logs) >= LOG_MAX_ENTRIES:
            self.logs_dropped += 1  # a runaway loop must not exhaust memory or the result
            return
        from datetime import UTC, datetime  # here: script mode never pays for the import

        moment = datetime.now(UTC).isoformat(timespec="microseconds")
        self.logs.append({"time": moment, "severity": str(severity), "message": str(message)})

    @staticmethod
    def exit() -> None:
        raise _SnippetExit

    def get_var(self, name: str, default: Any = None) -> Any:
        return self.variables.get(name, default)

    def set_var(self, name: str, value: Any) -> None:
        self.variables[name] = value

    def write_result(self) -> None:
        if not self.result_path:
            return
        try:
            data = self.encode()
            with open(self.result_path, "w", encoding="utf-8") as file:
                file.write(data)
        except BaseException as exc:  # a full disk or a closed-off directory: say so
            _write_stderr(f"runplane: could not write the snippet's results: {exc!r}\n")

    def encode(self) -> str:
        # The snippet may have rebound `results`; repr() stands in for what JSON cannot hold.
        results = self.namespace.get("results")
        document = {
            "results": results, "logs": self.logs, "logs_dropped": self.logs_dropped,
            "variables": self.variables,
        }
        try:
            data = json.dumps(document, default=repr)
        except (TypeError, ValueError, RecursionError) as exc:  # e.g. non-string keys, cycles
            return self._replacement(f"results are not serializable ({exc})")
        size = len(data.encode("utf-8"))
        if size > RESULT_MAX_BYTES:
            return self._replacement(f"result too large ({size} bytes)")
        return data

    def _replacement(self, reason: str) -> str:
        results = {"success": False, "result": reason}
        data = json.dumps({"results": results, "logs": self.logs,
                           "logs_dropped": self.logs_dropped, "variables": {}})
        if len(data.encode("utf-8")) <= RESULT_MAX_BYTES:
            return data
        dropped = self.logs_dropped + len(self.logs)  # even the logs alone are too large
        return json.dumps({"results": results, "logs": [], "logs_dropped": dropped,
                           "variables": {}})


# --- snippet batches: one snippet over several targets, in turn ----------------------------


class _TargetTimeout(BaseException):
    """Raised in a snippet by SIGALRM when its target's time is up."""


class _CappedText(io.TextIOBase):
    """A target's sys.stdout or sys.stderr: keeps the first `cap` characters."""

    def __init__(self, cap: int) -> None:
        self._parts: list[str] = []
        self._room = cap
        self.cut = False

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        kept = text[: max(0, self._room)]
        self._parts.append(kept)
        self._room -= len(kept)
        self.cut = self.cut or len(kept) < len(text)
        return len(text)

    def value(self) -> str:
        return "".join(self._parts)


def _run_batch(request: dict[str, Any], memory_bytes: int) -> int:
    """Run the snippet once per target, each in a fresh namespace with its own `results`,
    output and timeout. Each target's outcome is a line of JSON appended to result_path as
    soon as it ends, after a {"begin": index} line written as it starts: if the process dies,
    what has a line is done, the target begun without one was running, the rest never
    started."""
    context = request.get("context") or {}
    targets = context.get("targets") or []
    timeout = float(request.get("target_timeout") or 0)
    cap = int(request.get("output_bytes") or 1 << 20)
    signal.signal(signal.SIGALRM, _alarm)
    try:
        code: types.CodeType | str = compile(
            request["source"], SCRIPT_FILENAME, "exec", dont_inherit=True
        )
    except (SyntaxError, ValueError) as exc:  # the same failure for every target
        code = "".join(traceback.format_exception_only(type(exc), exc))
    _remember_source(request["source"])
    with open(request["result_path"], "a", encoding="utf-8") as lines:
        for index, target in enumerate(targets):
            lines.write(json.dumps({"begin": index}) + "\n")
            lines.flush()
            outcome = _run_target(code, request, target, context.get("payload"), timeout,
                                  cap, memory_bytes)
            lines.write(json.dumps({"index": index, **outcome}, default=repr) + "\n")
            lines.flush()
    return 0


def _run_target(code: types.CodeType | str, request: dict[str, Any], target: dict[str, Any],
                payload: Any, timeout: float, cap: int, memory_bytes: int) -> dict[str, Any]:
    started = time.monotonic()
    snippet = _Snippet({"context": {"device": target.get("device"), "payload": payload}})
    out, err = _CappedText(cap), _CappedText(cap)
    if isinstance(code, str):
        err.write(code)
        return _target_outcome(snippet, "failure", 1, out, err, started, "syntax error")
    namespace = _install_main_module({**request, "meta": {**(request.get("meta") or {}),
                                                          **(target.get("meta") or {})}})
    snippet.install(namespace)
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    _TIMER.expired = False
    try:
        if timeout > 0:
            signal.setitimer(signal.ITIMER_REAL, timeout)
        status = _execute(code, namespace, memory_bytes)
    except _TargetTimeout:  # raised outside the snippet's own frames
        status = 1
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        sys.stdout, sys.stderr = saved
    if _TIMER.expired:
        return _target_outcome(snippet, "timeout", None, out, err, started,
                               f"Timed out after {timeout:g} s")
    return _target_outcome(snippet, "success" if status == 0 else "failure", status, out,
                           err, started, None)


class _Timer:
    expired = False


_TIMER = _Timer()


def _alarm(_signum: int, _frame: Any) -> None:
    _TIMER.expired = True
    raise _TargetTimeout


def _target_outcome(snippet: _Snippet, status: str, exit_code: int | None, out: _CappedText,
                    err: _CappedText, started: float, error: str | None) -> dict[str, Any]:
    document = json.loads(snippet.encode())
    return {
        "status": status, "exit_code": exit_code, "stdout": out.value(),
        "stderr": err.value(), "truncated": out.cut or err.cut, "error": error,
        "duration_ms": int((time.monotonic() - started) * 1000), **document,
    }


# --- exit and error reporting ---------------------------------------------------------------


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
