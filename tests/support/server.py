"""A real `runplane serve` process on a free port, driven over HTTP as a client would."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.scratch import scratch_env

RUNPLANE = str(Path(sys.executable).with_name("runplane"))
KEY_LINE = re.compile(r"^\s{4}([0-9a-f]{40})\s*$", re.MULTILINE)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    database_url: str
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[str] | None = None
    admin_key: str | None = None
    log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0, *, extra_args: tuple[str, ...] = ()) -> ServerProcess:
        self.log_path = self.workdir / f"server-{self.port}-{time.monotonic_ns()}.log"
        stdout_path = self.log_path.with_suffix(".out")
        env = {**os.environ, "RUNPLANE_LOG_LEVEL": "warning", **scratch_env(),
               **self.key_env(), **self.env}
        with open(self.log_path, "w") as log, open(stdout_path, "w") as out:
            self.process = subprocess.Popen(
                [RUNPLANE, "serve", "--port", str(self.port), "--database", self.database_url,
                 *extra_args],
                cwd=self.workdir, env=env, stdout=out, stderr=log, text=True,
            )
        self._wait_healthy(timeout)
        found = KEY_LINE.search(stdout_path.read_text())
        if found:
            self.admin_key = found.group(1)
        return self

    def key_env(self) -> dict[str, str]:
        """PostgreSQL has no file to put the credentials' key beside: a key file of the
        test's (SQLite: the default, next to the database)."""
        if not self.database_url.startswith("postgresql"):
            return {}
        return {"RUNPLANE_SECRET_KEY_FILE": str(self.workdir / "runplane.secret-key")}

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited {self.process.returncode}: {self.logs()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server not healthy after {timeout}s: {self.logs()}")

    def logs(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"X-API-KEY": key or self.admin_key or ""}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60)


def runplane_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None
                 ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RUNPLANE, *args], capture_output=True, text=True, timeout=60, cwd=cwd,
        env={**os.environ, **(env or {})},
    )
