"""The simulated network of tests/support/simulated_network.py, over real SSH on loopback.

netmiko's cisco_ios driver is the acceptance test of the CLI's fidelity; asyncssh is the
client where many sessions or the misbehaving commands are watched closely.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator

import pytest

from tests.support.simulated_cli import INVALID, Behaviour
from tests.support.simulated_network import (
    DeviceSpec,
    RunningDevice,
    SimulatedNetwork,
    make_devices,
    simulated_network_process,
)

import asyncssh  # isort: skip  (after the support module, which quiets its import warnings)
from netmiko import ConnectHandler  # isort: skip
from netmiko.exceptions import NetmikoAuthenticationException  # isort: skip

pytestmark = pytest.mark.anyio

CLIENT_KEY = asyncssh.generate_private_key("ssh-ed25519")
OTHER_KEY = asyncssh.generate_private_key("ssh-ed25519")
EDGE = DeviceSpec(hostname="edge-7", username="ops", password="edge-pass",
                  enable_password="edge-enable",
                  authorized_keys=(CLIENT_KEY.export_public_key().decode(),))


@pytest.fixture(scope="module")
def network() -> Iterator[SimulatedNetwork]:
    with SimulatedNetwork([*make_devices(2), EDGE],
                          behaviour=Behaviour(slow_seconds=30.0, flood_bytes=1024)) as net:
        yield net


def connect(device: RunningDevice, **options: object) -> asyncssh.SSHClientConnection:
    login: dict[str, object] = {"username": device.spec.username,
                                "password": device.spec.password}
    login.update(options)
    return asyncssh.connect(device.host, device.port, known_hosts=None, **login)  # type: ignore


async def until(condition: Callable[[], bool], what: str) -> None:
    """Poll a condition of the simulator for at most 10 s (state, not speed, is asserted)."""
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"still not {what}")


def test_netmiko_cisco_ios_logs_in_enables_shows_configures_and_exits(
        network: SimulatedNetwork) -> None:
    device = network.devices[0]
    with ConnectHandler(**device.netmiko()) as cli:
        assert cli.base_prompt == device.hostname
        assert not cli.check_enable_mode()
        cli.enable()
        assert cli.find_prompt() == f"{device.hostname}#"

        version = cli.send_command("show version", use_textfsm=True)
        assert isinstance(version, list)
        assert (version[0]["hostname"], version[0]["version"]) == (device.hostname, "15.2(7)E4")
        interfaces = cli.send_command("show ip interface brief", use_textfsm=True)
        assert isinstance(interfaces, list)
        assert [row["interface"] for row in interfaces][:2] == ["Vlan1", "GigabitEthernet1/0/1"]

        cli.config_mode()
        assert cli.find_prompt() == f"{device.hostname}(config)#"
        echoed = cli.send_config_set(["interface GigabitEthernet1/0/2", "description uplink"],
                                     enter_config_mode=False, exit_config_mode=False)
        assert f"{device.hostname}(config-if)#description uplink" in echoed
        cli.exit_config_mode()
        assert cli.find_prompt() == f"{device.hostname}#"
        assert " description uplink" in cli.send_command("show running-config").splitlines()

        wrong = cli.send_command("show versoin").splitlines()
        assert wrong[-1] == INVALID
        assert wrong[-2] == " " * len(f"{device.hostname}#show ") + "^"
    assert network.running_config(device.hostname)["interface GigabitEthernet1/0/2"] == [
        " description uplink"]


def test_netmiko_is_refused_a_wrong_password(network: SimulatedNetwork) -> None:
    device = network.devices[0]
    with pytest.raises(NetmikoAuthenticationException):
        ConnectHandler(**device.netmiko(password="not-the-password"))


def test_netmiko_is_refused_a_wrong_enable_password(network: SimulatedNetwork) -> None:
    device = network.devices[1]
    with ConnectHandler(**device.netmiko(secret="not-the-secret")) as cli:
        with pytest.raises(ValueError, match="Failed to enter enable mode"):
            cli.enable()
        assert cli.find_prompt() == f"{device.hostname}>"


async def test_each_device_has_its_own_credentials_and_may_take_a_key(
        network: SimulatedNetwork) -> None:
    edge, other = network.device("edge-7"), network.devices[0]
    async with connect(edge) as conn:
        assert "edge-7 uptime is" in (await conn.run("show version")).stdout
    async with connect(edge, password=None, client_keys=[CLIENT_KEY]) as conn:
        assert "edge-7 uptime is" in (await conn.run("show version")).stdout
    refused = [
        connect(other, username=edge.spec.username, password=edge.spec.password),
        connect(edge, username=other.spec.username, password=other.spec.password),
        connect(edge, password=None, client_keys=[OTHER_KEY]),
        connect(other, password=None, client_keys=[CLIENT_KEY]),
    ]
    for attempt in refused:
        with pytest.raises(asyncssh.PermissionDenied):
            await attempt


async def test_200_devices_served_at_once_by_one_loop() -> None:
    with SimulatedNetwork(200) as net:

        async def show_version(device: RunningDevice) -> str:
            async with connect(device) as conn:
                return str((await conn.run("show version", check=True)).stdout)

        answers = await asyncio.gather(*(show_version(device) for device in net.devices))
        assert len({device.port for device in net.devices}) == 200
        for device, answer in zip(net.devices, answers, strict=True):
            assert f"\r\n{device.hostname} uptime is " in answer


async def test_a_slow_command_answers_only_after_its_wait(network: SimulatedNetwork) -> None:
    async with connect(network.devices[0]) as conn:
        # The default wait here is 30 s: nothing comes within a fraction of it.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(conn.run("show slow"), timeout=0.3)
        quick = await conn.run("show slow 0.01")
        assert quick.stdout == "slow answer after 0.01 s\r\n"
    await until(lambda: network.open_sessions == 0, "all sessions ended")


async def test_a_flood_writes_the_bytes_asked_and_then_the_prompt(
        network: SimulatedNetwork) -> None:
    async with connect(network.devices[0]) as conn:
        flood = (await conn.run("show flood 3")).stdout
        assert len(flood) == 3 * 1024 * 1024 + len("end of flood\r\n")
        assert flood.count("%SYS-5-FLOOD") > 30_000
        assert len((await conn.run("show flood")).stdout) == 1024 + len("end of flood\r\n")
        shell = await conn.create_process(term_type="vt100")
        await shell.stdout.readuntil(">")
        shell.stdin.write("show flood 1\n")
        output = await shell.stdout.readuntil("end of flood\r\nsim-0001>")
        assert len(output) > 1024 * 1024


class Watcher(asyncssh.SSHClient):
    """Records why the connection ended."""

    def __init__(self, lost: list[Exception | None]):
        self.lost = lost

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.append(exc)


async def test_drop_cuts_the_connection_and_the_device_serves_the_next(
        network: SimulatedNetwork) -> None:
    device = network.devices[1]
    lost: list[Exception | None] = []
    async with connect(device, client_factory=lambda: Watcher(lost)) as conn:
        shell = await conn.create_process(term_type="vt100")
        await shell.stdout.readuntil(f"{device.hostname}>")
        shell.stdin.write("drop\n")
        with pytest.raises(asyncio.IncompleteReadError):
            await shell.stdout.readuntil(f"{device.hostname}>")
        await asyncio.wait_for(conn.wait_closed(), timeout=10)
    # Cut without SSH's goodbye: to the client, the network failed.
    assert len(lost) == 1
    assert isinstance(lost[0], asyncssh.ConnectionLost)
    async with connect(device) as conn:
        assert device.hostname in (await conn.run("show version")).stdout


async def test_exit_ends_the_session_cleanly(network: SimulatedNetwork) -> None:
    device = network.devices[1]
    async with connect(device) as conn:
        shell = await conn.create_process(term_type="vt100")
        await shell.stdout.readuntil(f"{device.hostname}>")
        shell.stdin.write("exit\n")
        assert (await shell.wait(timeout=10)).exit_status == 0


async def test_hang_stops_mid_output_until_the_client_leaves(
        network: SimulatedNetwork) -> None:
    device = network.devices[1]
    async with connect(device) as conn:
        shell = await conn.create_process(term_type="vt100")
        await shell.stdout.readuntil(f"{device.hostname}>")
        shell.stdin.write("show hang\n")
        assert "IP-Address" in await shell.stdout.readuntil("Status\r\n")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(shell.stdout.readuntil(">"), timeout=0.3)
        assert network.open_sessions >= 1
    # The hung session ends with its connection.
    await until(lambda: network.open_sessions == 0, "all sessions ended")


async def test_a_separate_process_prints_its_ports_and_serves_them() -> None:
    with simulated_network_process(3, prefix="far") as devices:
        assert [device.hostname for device in devices] == ["far-0001", "far-0002", "far-0003"]
        async with connect(devices[1]) as conn:
            assert "far-0002 uptime is" in (await conn.run("show version")).stdout
    # Gone with the block: its ports refuse connections.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((devices[1].host, devices[1].port), timeout=5).close()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "::"])
def test_it_listens_on_loopback_only(host: str) -> None:
    with pytest.raises(ValueError, match="loopback only"):
        SimulatedNetwork(1, host=host)


def test_the_devices_listen_on_127_0_0_1_by_default(network: SimulatedNetwork) -> None:
    assert {device.host for device in network.devices} == {"127.0.0.1"}
