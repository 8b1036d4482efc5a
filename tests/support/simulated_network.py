"""A simulated network: N Cisco IOS-style devices as SSH servers on loopback, one event loop.

Each device listens on its own port of 127.0.0.1 (or another loopback address) with its own
hostname and credentials; all of them are served by one asyncio loop, so 1,000 devices cost one
thread (or one process) and a few file descriptors each. The CLI itself is
`tests/support/simulated_cli.py`; this module is the SSH pump around it.

Three ways to run it:

- in a test or a benchmark, on a thread of its own: ``with SimulatedNetwork(200) as net:``
  (``net.devices``: hostname, host, port, credentials; ``device.netmiko()`` gives
  ConnectHandler's arguments);
- in a separate process, so a benchmark can put it on another core:
  ``with simulated_network_process(500) as devices:``;
- by hand: ``python -m tests.support.simulated_network --devices 500 --base-port 40000``
  prints one JSON line (host, ports, hostnames) once every port listens, then serves until
  SIGINT/SIGTERM.

Besides the usual commands (`show version`, `show ip interface brief`, `show running-config`,
`enable`, `configure terminal`...), a few misbehave on purpose: `show slow [SECONDS]` answers
late, `show flood [MEGABYTES]` writes that much output, `show hang` stops mid-output for good,
`drop` cuts the TCP connection. Exec requests (``ssh host "show version"``) run one command in
user mode and close.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import ipaddress
import json
import logging
import os
import resource
import signal
import subprocess
import sys
import threading
import warnings
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

# asyncssh still names DSA in its type aliases; cryptography warns about it on import.
warnings.filterwarnings("ignore", message="DSA is deprecated")
import asyncssh  # noqa: E402

from tests.support.simulated_cli import (  # noqa: E402
    CRLF,
    Action,
    Behaviour,
    CliSession,
    DeviceState,
    Reply,
)

DEFAULT_USERNAME = "admin"
DEFAULT_PASSWORD = "sim-password"
DEFAULT_ENABLE_PASSWORD = "sim-enable"
LOOPBACK = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")

# One 80-column line of the flood (a console log line), repeated up to the size asked for.
_FLOOD_LINE = "*Mar  1 00:00:00.000: %SYS-5-FLOOD: simulated output flood, line after line".ljust(
    78) + CRLF
_FLOOD_CHUNK = _FLOOD_LINE * 800  # 64,000 characters per write


@dataclass(frozen=True)
class DeviceSpec:
    """One device to simulate. Port 0: the system picks a free one."""

    hostname: str
    username: str = DEFAULT_USERNAME
    password: str = DEFAULT_PASSWORD
    enable_password: str = DEFAULT_ENABLE_PASSWORD
    # OpenSSH public keys ("ssh-ed25519 AAAA...") accepted for `username`, besides the password.
    authorized_keys: tuple[str, ...] = ()
    port: int = 0


@dataclass(frozen=True)
class RunningDevice:
    """A device that listens: where to reach it and how to log in."""

    spec: DeviceSpec
    host: str
    port: int

    @property
    def hostname(self) -> str:
        return self.spec.hostname

    def netmiko(self, **extra: Any) -> dict[str, Any]:
        """The arguments of netmiko's ConnectHandler for this device."""
        return {
            "device_type": "cisco_ios", "host": self.host, "port": self.port,
            "username": self.spec.username, "password": self.spec.password,
            "secret": self.spec.enable_password, **extra,
        }


def make_devices(count: int, *, prefix: str = "sim", base_port: int = 0,
                 username: str = DEFAULT_USERNAME, password: str = DEFAULT_PASSWORD,
                 enable_password: str = DEFAULT_ENABLE_PASSWORD) -> list[DeviceSpec]:
    """`count` devices named prefix-0001...; ports base_port, base_port+1... (or free ones)."""
    return [
        DeviceSpec(hostname=f"{prefix}-{number:04d}", username=username, password=password,
                   enable_password=enable_password,
                   port=base_port + number - 1 if base_port else 0)
        for number in range(1, count + 1)
    ]


def require_loopback(host: str) -> str:
    """The simulator never listens beyond this machine."""
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"the simulated network listens on loopback only, not {host!r}")
    return host


class _DeviceConnection(asyncssh.SSHServer):
    """One SSH connection to one device: its authentication, and its sessions' lifetime."""

    def __init__(self, network: SimulatedNetworkServer, index: int):
        self._network = network
        self._spec = network.specs[index]
        self._keys = network.authorized_key_data[index]
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._network.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        # A session waiting (slow, hang) or writing (flood) ends with its connection.
        if self._conn is not None:
            self._network.connections.discard(self._conn)
            for task in self._network.sessions.pop(self._conn, set()):
                task.cancel()

    def begin_auth(self, username: str) -> bool:
        return True  # every login must authenticate

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == self._spec.username and password == self._spec.password

    def public_key_auth_supported(self) -> bool:
        return bool(self._keys)

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username == self._spec.username and key.public_data in self._keys


class SimulatedNetworkServer:
    """The devices' listeners and sessions, on the running event loop (async API)."""

    def __init__(self, devices: Sequence[DeviceSpec], *, host: str = LOOPBACK,
                 behaviour: Behaviour = Behaviour(),
                 host_key: asyncssh.SSHKey | None = None):
        self.specs = list(devices)
        self.host = require_loopback(host)
        self.behaviour = behaviour
        self.states = [DeviceState(spec.hostname, spec.enable_password, index=number)
                       for number, spec in enumerate(self.specs, start=1)]
        self.authorized_key_data = [
            frozenset(asyncssh.import_public_key(key).public_data for key in spec.authorized_keys)
            for spec in self.specs
        ]
        self._host_key = host_key
        self._listeners: list[asyncssh.SSHAcceptor] = []
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self.sessions: dict[asyncssh.SSHServerConnection, set[asyncio.Task[Any]]] = {}
        self.devices: list[RunningDevice] = []
        self._open_sessions = 0

    @property
    def open_sessions(self) -> int:
        # A plain counter: other threads read it while the loop changes `sessions`.
        return self._open_sessions

    async def start(self) -> list[RunningDevice]:
        # One host key for all: generating 1,000 would cost seconds and prove nothing.
        key = self._host_key or asyncssh.generate_private_key("ssh-ed25519")
        try:
            for index, spec in enumerate(self.specs):
                self._listeners.append(await asyncssh.listen(
                    self.host, spec.port, server_host_keys=[key],
                    server_factory=functools.partial(_DeviceConnection, self, index),
                    process_factory=functools.partial(self._session, index),
                    line_editor=False,  # the device echoes itself, as IOS does
                    errors="replace"))
        except BaseException:
            await self.stop()
            raise
        self.devices = [RunningDevice(spec, self.host, listener.get_port())
                        for spec, listener in zip(self.specs, self._listeners, strict=True)]
        return self.devices

    async def stop(self) -> None:
        for listener in self._listeners:
            listener.close()
        await asyncio.gather(*(listener.wait_closed() for listener in self._listeners),
                             return_exceptions=True)
        self._listeners.clear()
        for conn in list(self.connections):
            conn.abort()
        tasks = [task for group in self.sessions.values() for task in group]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- one session -----------------------------------------------------------------------

    async def _session(self, index: int, process: asyncssh.SSHServerProcess[str]) -> None:
        conn: asyncssh.SSHServerConnection = process.get_extra_info("connection")
        task = asyncio.current_task()
        assert task is not None
        self.sessions.setdefault(conn, set()).add(task)
        self._open_sessions += 1
        cli = CliSession(self.states[index], self.behaviour)
        try:
            if process.command is not None:
                await self._exec_request(cli, process, conn)
            else:
                await self._shell(cli, process, conn)
        except (OSError, asyncssh.Error):
            pass  # the client went away mid-answer
        finally:
            self._open_sessions -= 1
            self.sessions.get(conn, set()).discard(task)
            if not process.is_closing():
                process.exit(0)

    async def _exec_request(self, cli: CliSession, process: asyncssh.SSHServerProcess[str],
                            conn: asyncssh.SSHServerConnection) -> None:
        reply = cli.handle(process.command or "")
        if reply.action is Action.ASK_ENABLE_PASSWORD:
            reply = Reply("% enable needs an interactive session" + CRLF)
        await self._carry_out(reply, process, conn)
        if reply.action is not Action.DROP:
            process.stdout.write(reply.text)

    async def _shell(self, cli: CliSession, process: asyncssh.SSHServerProcess[str],
                     conn: asyncssh.SSHServerConnection) -> None:
        out = process.stdout
        out.write(CRLF + cli.prompt)
        line: list[str] = []
        asking_password = False
        after_cr = False
        while True:
            try:
                data = await process.stdin.read(4096)
            except (asyncssh.TerminalSizeChanged, asyncssh.BreakReceived,
                    asyncssh.SignalReceived):
                continue
            if not data:
                return  # end of input: the client closed its side
            echo: list[str] = []
            for char in data:
                if char == "\n" and after_cr:
                    after_cr = False  # the LF of a CRLF: the line ended at the CR
                    continue
                after_cr = char == "\r"
                if char not in "\r\n":
                    if char in "\x7f\x08":
                        if line:
                            line.pop()
                            echo.append("\b \b")
                    elif not asking_password:
                        line.append(char)
                        echo.append(char)
                    else:
                        line.append(char)  # a password is never echoed
                    continue
                echo.append(CRLF)
                out.write("".join(echo))
                echo.clear()
                typed = "".join(line)
                line.clear()
                if asking_password:
                    asking_password = False
                    reply = cli.check_enable_password(typed)
                else:
                    reply = cli.handle(typed)
                if reply.action is Action.ASK_ENABLE_PASSWORD:
                    asking_password = True
                    out.write("Password: ")
                    continue
                await self._carry_out(reply, process, conn)
                if reply.action in (Action.DROP, Action.CLOSE):
                    return
                out.write(reply.text + cli.prompt)
            if echo:
                out.write("".join(echo))

    async def _carry_out(self, reply: Reply, process: asyncssh.SSHServerProcess[str],
                         conn: asyncssh.SSHServerConnection) -> None:
        """The time- and connection-related part of a reply (its text is written after)."""
        if reply.action is Action.SLOW:
            await asyncio.sleep(reply.amount)
        elif reply.action is Action.FLOOD:
            await _flood(process.stdout, int(reply.amount))
        elif reply.action is Action.HANG:
            process.stdout.write(reply.text)
            await asyncio.Event().wait()  # until the connection goes (the task is cancelled)
        elif reply.action is Action.DROP:
            conn.abort()  # no SSH disconnect message: to the client, the network failed


async def _flood(out: asyncssh.SSHWriter[str], size: int) -> None:
    """Write `size` characters of log lines, at the pace the client reads them."""
    while size > 0:
        chunk = _FLOOD_CHUNK if size >= len(_FLOOD_CHUNK) else _FLOOD_CHUNK[:size]
        out.write(chunk)
        size -= len(chunk)
        await out.drain()


class SimulatedNetwork:
    """A SimulatedNetworkServer on a thread with its own event loop: a context manager.

    `devices` is a count (devices sim-0001... with the default credentials, free ports, or
    base_port, base_port+1...) or the DeviceSpecs themselves.
    """

    def __init__(self, devices: int | Sequence[DeviceSpec] = 1, *, host: str = LOOPBACK,
                 base_port: int = 0, behaviour: Behaviour = Behaviour(),
                 host_key: asyncssh.SSHKey | None = None):
        specs = make_devices(devices, base_port=base_port) if isinstance(devices, int) \
            else list(devices)
        self.server = SimulatedNetworkServer(specs, host=host, behaviour=behaviour,
                                             host_key=host_key)
        self.devices: list[RunningDevice] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SimulatedNetwork:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever,
                                        name="simulated-network", daemon=True)
        self._thread.start()
        try:
            self.devices = self._call(self.server.start())
        except BaseException:
            self._stop_loop()
            raise
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        try:
            self._call(self.server.stop())
        finally:
            self._stop_loop()

    def __enter__(self) -> SimulatedNetwork:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def device(self, hostname: str) -> RunningDevice:
        return next(device for device in self.devices if device.hostname == hostname)

    @property
    def open_sessions(self) -> int:
        """Sessions (shells or exec requests) being served right now."""
        return self.server.open_sessions

    def running_config(self, hostname: str) -> dict[str, list[str]]:
        """What configuration lines the device holds (a copy, read on the loop)."""
        index = next(i for i, spec in enumerate(self.server.specs) if spec.hostname == hostname)

        async def read() -> dict[str, list[str]]:
            return {line: list(children)
                    for line, children in self.server.states[index].config.items()}
        return self._call(read())

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=120)

    def _stop_loop(self) -> None:
        assert self._loop is not None and self._thread is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
        self._loop = None


# -- as a separate process ----------------------------------------------------------------

@contextlib.contextmanager
def simulated_network_process(devices: int, *, base_port: int = 0, host: str = LOOPBACK,
                              prefix: str = "sim", username: str = DEFAULT_USERNAME,
                              password: str = DEFAULT_PASSWORD,
                              enable_password: str = DEFAULT_ENABLE_PASSWORD,
                              behaviour: Behaviour = Behaviour(), cpu: int | None = None,
                              ) -> Iterator[list[RunningDevice]]:
    """Run the simulator in a child process (optionally pinned to `cpu`) while in the block.

    The child ends when the block ends, and also if this process dies (it watches its stdin).
    """
    command = [
        sys.executable, "-m", "tests.support.simulated_network", "--devices", str(devices),
        "--base-port", str(base_port), "--host", require_loopback(host), "--prefix", prefix,
        "--username", username, "--password", password, "--enable-password", enable_password,
        "--slow-seconds", str(behaviour.slow_seconds),
        "--flood-megabytes", str(behaviour.flood_bytes / (1024 * 1024)), "--exit-with-stdin",
    ]
    if cpu is not None:
        command += ["--cpu", str(cpu)]
    child = subprocess.Popen(command, cwd=REPO_ROOT, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        ready = child.stdout.readline()
        if not ready:
            raise RuntimeError(f"the simulated network exited with {child.wait()} before ready")
        info = json.loads(ready)
        specs = make_devices(devices, prefix=prefix, base_port=base_port, username=username,
                             password=password, enable_password=enable_password)
        yield [RunningDevice(spec, info["host"], port)
               for spec, port in zip(specs, info["ports"], strict=True)]
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.simulated_network",
        description="Serve N simulated Cisco IOS-style SSH devices on loopback until stopped.")
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--base-port", type=int, default=0,
                        help="first port (then +1 per device); 0: free ports")
    parser.add_argument("--host", default=LOOPBACK, help="a loopback address")
    parser.add_argument("--prefix", default="sim", help="hostnames PREFIX-0001...")
    parser.add_argument("--username", default=DEFAULT_USERNAME)
    parser.add_argument("--password", default=DEFAULT_PASSWORD)
    parser.add_argument("--enable-password", default=DEFAULT_ENABLE_PASSWORD)
    parser.add_argument("--slow-seconds", type=float, default=Behaviour.slow_seconds)
    parser.add_argument("--flood-megabytes", type=float,
                        default=Behaviour.flood_bytes / (1024 * 1024))
    parser.add_argument("--cpu", type=int, help="pin the process to this CPU")
    parser.add_argument("--exit-with-stdin", action="store_true",
                        help="also stop when standard input closes (a parent process died)")
    return parser.parse_args(argv)


def _raise_open_files_limit(needed: int) -> None:
    """A listener and a connection or two per device: lift the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _serve(args: argparse.Namespace) -> None:
    behaviour = Behaviour(slow_seconds=args.slow_seconds,
                          flood_bytes=int(args.flood_megabytes * 1024 * 1024))
    specs = make_devices(args.devices, prefix=args.prefix, base_port=args.base_port,
                         username=args.username, password=args.password,
                         enable_password=args.enable_password)
    server = SimulatedNetworkServer(specs, host=args.host, behaviour=behaviour)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    if args.exit_with_stdin:
        threading.Thread(target=lambda: (sys.stdin.read(),
                                         loop.call_soon_threadsafe(stopped.set)),
                         daemon=True).start()
    devices = await server.start()
    print(json.dumps({"host": server.host, "ports": [d.port for d in devices],
                      "hostnames": [d.hostname for d in devices]}), flush=True)
    await stopped.wait()
    await server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    require_loopback(args.host)
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    _raise_open_files_limit(args.devices * 3 + 64)
    try:
        asyncio.run(_serve(args))
    except OSError as error:  # most often: a port of the range is taken
        print(f"simulated network: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
