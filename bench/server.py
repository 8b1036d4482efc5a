"""A real `runplane serve` process: a fresh SQLite file (or a given empty database), a free
port, default settings but for the executor."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench import procinfo

RUNPLANE = str(Path(sys.executable).with_name("runplane"))
KEY_LINE = re.compile(r"^\s{4}([0-9a-f]{40})\s*$", re.MULTILINE)
ERROR_LINE = re.compile(r"^\w*(?:Error|Exception)\b.*$", re.MULTILINE)


class Unavailable(Exception):
    """This row cannot be measured on this machine or at this commit; the message says why."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 5) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return " | ".join(text.strip().splitlines()[-lines:])


class Server:
    def __init__(self, executor: str, workdir: Path, database: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.executor = executor
        self.env = dict(env or {})  # RUNPLANE_* settings of the caller's choosing
        self.workdir = workdir
        # Default: a fresh SQLite file in workdir; else a database with no key yet.
        self.database = database or f"sqlite:///{workdir / 'runplane.db'}"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.admin_key = ""
        self.stdout_path = workdir / "server.out"
        self.stderr_path = workdir / "server.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60.0) -> None:
        # Default settings: no RUNPLANE_* of the caller leaks in, only the executor.
        env = {name: value for name, value in os.environ.items()
               if not name.startswith("RUNPLANE_")}
        env["RUNPLANE_EXECUTOR"] = self.executor.removesuffix("-unconfined")
        if self.executor.endswith("-unconfined"):
            env["RUNPLANE_CONFINE"] = "off"
        env.update(self.env)
        command = [RUNPLANE, "serve", "--host", "127.0.0.1", "--port", str(self.port),
                   "--database", self.database]
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            # Its own session: a Ctrl-C of the bench does not reach it; stop() ends it.
            self.process = subprocess.Popen(command, cwd=self.workdir, env=env, stdout=out,
                                            stderr=err, start_new_session=True)
        self._wait_healthy(timeout)
        found = KEY_LINE.search(self.stdout_path.read_text())
        if not found:
            raise RuntimeError(f"no admin key in the server's first-start output: "
                               f"{tail(self.stdout_path)}")
        self.admin_key = found.group(1)

    def _wait_healthy(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise Unavailable(f"server exited with {self.process.returncode} at start: "
                                  f"{self.start_error()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not healthy after {timeout:.0f} s: {tail(self.stderr_path)}")

    def start_error(self) -> str:
        """The exception that stopped the server (e.g. an executor not built yet), or its log."""
        log = self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""
        errors = ERROR_LINE.findall(log)
        return errors[-1] if errors else tail(self.stderr_path)

    def memory(self) -> dict[str, float]:
        return procinfo.memory(self.pid)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 30 s; then anything left in its process group."""
        if self.process is not None:
            procinfo.stop_group(self.process)
