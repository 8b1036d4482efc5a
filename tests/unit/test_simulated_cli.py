"""The simulated devices' IOS-style CLI, line by line (no SSH: tests/support/simulated_cli.py)."""

from __future__ import annotations

import pytest

from tests.support.simulated_cli import (
    INVALID,
    Action,
    Behaviour,
    CliSession,
    DeviceState,
    Mode,
)


def session(hostname: str = "core-1", mode: Mode = Mode.USER) -> CliSession:
    return CliSession(DeviceState(hostname, "s3cret", index=7),
                      Behaviour(slow_seconds=2.5, flood_bytes=3 * 1024 * 1024), mode)


def test_enable_asks_a_password_and_the_modes_change_the_prompt() -> None:
    cli = session()
    assert cli.prompt == "core-1>"
    assert cli.handle("enable").action is Action.ASK_ENABLE_PASSWORD
    assert cli.check_enable_password("s3cret").text == ""
    assert cli.prompt == "core-1#"
    assert "Enter configuration commands" in cli.handle("configure terminal").text
    assert cli.prompt == "core-1(config)#"
    cli.handle("interface GigabitEthernet1/0/1")
    assert cli.prompt == "core-1(config-if)#"
    cli.handle("exit")
    assert cli.prompt == "core-1(config)#"
    cli.handle("end")
    assert cli.prompt == "core-1#"
    cli.handle("disable")
    assert cli.prompt == "core-1>"


def test_a_wrong_enable_password_is_refused_and_the_mode_stays() -> None:
    cli = session()
    cli.handle("enable")
    assert "% Access denied" in cli.check_enable_password("guess").text
    assert cli.mode is Mode.USER


def test_words_may_be_abbreviated_as_on_ios() -> None:
    cli = session()
    assert "core-1 uptime is" in cli.handle("sh ver").text
    table = cli.handle("sh ip int br").text.splitlines()
    assert table[0].split()[:3] == ["Interface", "IP-Address", "OK?"]
    assert table[1].split()[:2] == ["Vlan1", "10.0.7.1"]
    assert cli.handle("terminal length 0").text == ""
    assert cli.handle("term width 511").text == ""


def test_unknown_input_gets_a_caret_under_the_first_word_that_does_not_match() -> None:
    cli = session(mode=Mode.ENABLE)
    lines = cli.handle("show  versoin").text.split("\r\n")
    # "core-1#" is 7 columns; "versoin" starts at column 6 of the line.
    assert lines[0] == " " * (7 + 6) + "^"
    assert lines[1] == INVALID
    assert INVALID in cli.handle("frobnicate").text


def test_privileged_commands_are_invalid_in_user_mode() -> None:
    cli = session()
    assert INVALID in cli.handle("configure terminal").text
    assert INVALID in cli.handle("show running-config").text
    assert cli.mode is Mode.USER


def test_configuration_lines_are_kept_removed_and_shown() -> None:
    cli = session(mode=Mode.ENABLE)
    cli.handle("conf t")
    cli.handle("ntp server 10.0.0.1")
    cli.handle("logging host 10.0.0.2")
    cli.handle("interface Vlan10")
    cli.handle("description users")
    cli.handle("exit")
    cli.handle("no logging host 10.0.0.2")
    assert INVALID in cli.handle("frobnicate the router").text
    cli.handle("hostname core-2")
    assert cli.prompt == "core-2(config)#"
    assert "core-2 uptime is" in cli.handle("do show version").text
    cli.handle("end")
    shown = cli.handle("show running-config").text.split("\r\n")
    assert "hostname core-2" in shown
    assert "ntp server 10.0.0.1" in shown
    assert "logging host 10.0.0.2" not in shown
    assert shown[shown.index("interface Vlan10") + 1] == " description users"


def test_the_misbehaving_commands_name_their_action_and_amount() -> None:
    cli = session()
    assert (cli.handle("show slow").action, cli.handle("show slow").amount) == (Action.SLOW, 2.5)
    assert cli.handle("show slow 0.5").amount == 0.5
    assert cli.handle("show flood").amount == 3 * 1024 * 1024
    assert cli.handle("show flood 0.5").amount == 512 * 1024
    assert cli.handle("show hang").action is Action.HANG
    assert cli.handle("drop").action is Action.DROP
    assert cli.handle("exit").action is Action.CLOSE


@pytest.mark.parametrize("line", ["show slow soon", "show flood -1", "show version now"])
def test_bad_arguments_are_invalid_input(line: str) -> None:
    reply = session().handle(line)
    assert reply.action is Action.NONE
    assert INVALID in reply.text
