"""The Cisco IOS-style CLI of one simulated device: a pure state machine, no I/O.

`CliSession.handle(line)` takes one typed line and answers a `Reply`: the text to write
(lines joined by CRLF, as IOS does) and, for the few commands that are about time or the
connection itself, an `action` the SSH layer carries out (wait, flood, hang, drop, close, ask
for the enable password). Keeping the I/O out makes the dialect testable line by line and lets
the SSH layer (`simulated_network.py`) stay a thin pump.

What netmiko's `cisco_ios` driver relies on: prompts `host>`, `host#`, `host(config)#` and
`host(config-if)#`; `terminal length 0` / `terminal width 511` accepted silently; `enable`
asking `Password: `; `configure terminal` / `end` / `exit`; unknown input answered with IOS's
caret under the first word that does not match. Words may be abbreviated to any prefix
(`sh ip int br`), as on IOS (first match wins; IOS would call some of them ambiguous).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

CRLF = "\r\n"
INVALID = "% Invalid input detected at '^' marker."

# First words a configuration line may start with; anything else is IOS's invalid input.
CONFIG_KEYWORDS = frozenset({
    "aaa", "access-list", "banner", "boot", "cdp", "clock", "crypto", "description", "duplex",
    "enable", "hostname", "interface", "ip", "ipv6", "line", "logging", "mtu", "no", "ntp",
    "router", "service", "shutdown", "snmp-server", "spanning-tree", "speed", "switchport",
    "username", "vlan",
})


class Mode(enum.Enum):
    USER = ">"
    ENABLE = "#"
    CONFIG = "(config)#"
    CONFIG_IF = "(config-if)#"


class Action(enum.Enum):
    NONE = "none"
    ASK_ENABLE_PASSWORD = "ask_enable_password"  # write "Password: ", read a line unechoed
    SLOW = "slow"  # wait `amount` seconds, then write the text
    FLOOD = "flood"  # write `amount` bytes of output, then the text
    HANG = "hang"  # write the text, then never answer again on this session
    DROP = "drop"  # cut the TCP connection without an SSH goodbye
    CLOSE = "close"  # end the session normally (exit / logout)


@dataclass(frozen=True)
class Behaviour:
    """The knobs of the commands that misbehave on purpose (the same for every device)."""

    slow_seconds: float = 5.0  # `show slow` without an argument
    flood_bytes: int = 8 * 1024 * 1024  # `show flood` without an argument


@dataclass
class DeviceState:
    """What a device remembers across its sessions: its name and its running configuration."""

    hostname: str
    enable_password: str
    # Top-level configuration lines, each with its indented sub-mode lines (interfaces).
    config: dict[str, list[str]] = field(default_factory=dict)
    index: int = 0  # the device's number in its network: varies its addresses and serial


@dataclass(frozen=True)
class Reply:
    text: str = ""
    action: Action = Action.NONE
    amount: float = 0.0


Handler = Callable[["CliSession", list[str]], Reply]


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]
    handler: Handler
    modes: frozenset[Mode]
    max_args: int = 0


EXEC_MODES = frozenset({Mode.USER, Mode.ENABLE})
ENABLE_ONLY = frozenset({Mode.ENABLE})


class CliSession:
    """One SSH session's CLI: its mode, over the device's shared state."""

    def __init__(self, device: DeviceState, behaviour: Behaviour, mode: Mode = Mode.USER):
        self.device = device
        self.behaviour = behaviour
        self.mode = mode
        self.interface = ""  # the interface being configured in CONFIG_IF
        self._line = ""  # the line being handled, for a caret under a bad argument

    @property
    def prompt(self) -> str:
        return self.device.hostname + self.mode.value

    def handle(self, line: str) -> Reply:
        """Answer one line typed at the prompt (without its line ending)."""
        words = line.split()
        if not words:
            return Reply()
        self._line = line
        if self.mode in EXEC_MODES:
            return self._exec(line, words)
        return self._configure(line, words)

    def check_enable_password(self, password: str) -> Reply:
        """The line typed after `enable` asked `Password: `."""
        if password == self.device.enable_password:
            self.mode = Mode.ENABLE
            return Reply()
        return Reply("% Access denied" + CRLF)

    # -- exec modes ------------------------------------------------------------------------

    def _exec(self, line: str, words: list[str]) -> Reply:
        best_depth = 0
        for command in EXEC_COMMANDS:
            if self.mode not in command.modes:
                continue
            depth = _matched_words(command.words, words)
            if depth == len(command.words) and len(words) - depth <= command.max_args:
                return command.handler(self, words[depth:])
            best_depth = max(best_depth, depth)
        return self.invalid(line, words, best_depth)

    def invalid(self, line: str, words: list[str], word_index: int) -> Reply:
        """IOS's answer to input it does not know: a caret under the offending word."""
        column = _word_column(line, min(word_index, len(words) - 1))
        caret = " " * (len(self.prompt) + column) + "^"
        return Reply(caret + CRLF + INVALID + CRLF + CRLF)

    # -- configuration modes ---------------------------------------------------------------

    def _configure(self, line: str, words: list[str]) -> Reply:
        first = words[0].lower()
        if first == "end" or line.strip() == "\x1a":
            self.mode = Mode.ENABLE
            return Reply()
        if first == "exit":
            self.mode = Mode.CONFIG if self.mode is Mode.CONFIG_IF else Mode.ENABLE
            return Reply()
        if first == "do" and len(words) > 1:
            return self._exec_as_enable(line.split(None, 1)[1])
        if first not in CONFIG_KEYWORDS:
            return self.invalid(line, words, 0)
        if first == "interface" and len(words) > 1:
            self.interface = "interface " + " ".join(words[1:])
            self.device.config.setdefault(self.interface, [])
            self.mode = Mode.CONFIG_IF
            return Reply()
        if self.mode is Mode.CONFIG_IF:
            self.device.config[self.interface].append(" " + " ".join(words))
            return Reply()
        if first == "hostname" and len(words) == 2:
            self.device.hostname = words[1]
            return Reply()
        if first == "no":
            self.device.config.pop(" ".join(words[1:]), None)
            return Reply()
        self.device.config.setdefault(" ".join(words), [])
        return Reply()

    def _exec_as_enable(self, line: str) -> Reply:
        mode = self.mode
        self.mode = Mode.ENABLE
        try:
            return self._exec(line, line.split())
        finally:
            self.mode = mode

    # -- command handlers ------------------------------------------------------------------

    def show_version(self, _args: list[str]) -> Reply:
        return Reply(_lines(show_version_text(self.device)))

    def show_ip_interface_brief(self, _args: list[str]) -> Reply:
        return Reply(_lines(show_ip_interface_brief_text(self.device)))

    def show_running_config(self, _args: list[str]) -> Reply:
        return Reply(_lines(running_config_text(self.device)))

    def show_slow(self, args: list[str]) -> Reply:
        seconds = _number(args, self.behaviour.slow_seconds)
        if seconds is None:
            return self._bad_last_word()
        return Reply(f"slow answer after {seconds:g} s" + CRLF, Action.SLOW, seconds)

    def show_flood(self, args: list[str]) -> Reply:
        megabytes = _number(args, self.behaviour.flood_bytes / (1024 * 1024))
        if megabytes is None:
            return self._bad_last_word()
        return Reply("end of flood" + CRLF, Action.FLOOD, int(megabytes * 1024 * 1024))

    def _bad_last_word(self) -> Reply:
        words = self._line.split()
        return self.invalid(self._line, words, len(words) - 1)

    def show_hang(self, _args: list[str]) -> Reply:
        # The start of a long table, then nothing: a device stuck mid-output.
        return Reply("Interface              IP-Address      OK? Method Status" + CRLF, Action.HANG)

    def terminal(self, _args: list[str]) -> Reply:
        return Reply()  # paging and width: nothing to page here, every setting is accepted

    def enable(self, _args: list[str]) -> Reply:
        if self.mode is Mode.ENABLE:
            return Reply()
        return Reply(action=Action.ASK_ENABLE_PASSWORD)

    def disable(self, _args: list[str]) -> Reply:
        self.mode = Mode.USER
        return Reply()

    def configure_terminal(self, _args: list[str]) -> Reply:
        self.mode = Mode.CONFIG
        return Reply("Enter configuration commands, one per line.  End with CNTL/Z." + CRLF)

    def write_memory(self, _args: list[str]) -> Reply:
        return Reply("Building configuration..." + CRLF + "[OK]" + CRLF)

    def exit(self, _args: list[str]) -> Reply:
        return Reply(action=Action.CLOSE)

    def drop(self, _args: list[str]) -> Reply:
        return Reply(action=Action.DROP)


# Order matters where prefixes overlap: `en` is enable and `ex` is exit, as on IOS.
EXEC_COMMANDS: tuple[Command, ...] = (
    Command(("show", "version"), CliSession.show_version, EXEC_MODES),
    Command(("show", "ip", "interface", "brief"), CliSession.show_ip_interface_brief, EXEC_MODES),
    Command(("show", "running-config"), CliSession.show_running_config, ENABLE_ONLY),
    Command(("show", "slow"), CliSession.show_slow, EXEC_MODES, max_args=1),
    Command(("show", "flood"), CliSession.show_flood, EXEC_MODES, max_args=1),
    Command(("show", "hang"), CliSession.show_hang, EXEC_MODES),
    Command(("terminal", "length"), CliSession.terminal, EXEC_MODES, max_args=1),
    Command(("terminal", "width"), CliSession.terminal, EXEC_MODES, max_args=1),
    Command(("terminal", "no", "monitor"), CliSession.terminal, EXEC_MODES),
    Command(("enable",), CliSession.enable, EXEC_MODES),
    Command(("disable",), CliSession.disable, ENABLE_ONLY),
    Command(("configure", "terminal"), CliSession.configure_terminal, ENABLE_ONLY),
    Command(("write", "memory"), CliSession.write_memory, ENABLE_ONLY),
    Command(("exit",), CliSession.exit, EXEC_MODES),
    Command(("logout",), CliSession.exit, EXEC_MODES),
    Command(("quit",), CliSession.exit, EXEC_MODES),
    Command(("drop",), CliSession.drop, EXEC_MODES),
)


def _matched_words(command: tuple[str, ...], words: list[str]) -> int:
    """How many leading words of the input are (abbreviations of) the command's words."""
    depth = 0
    for expected, typed in zip(command, words, strict=False):
        if not expected.startswith(typed.lower()):
            break
        depth += 1
    return depth


def _word_column(line: str, index: int) -> int:
    """The column where the `index`-th whitespace-separated word of `line` starts."""
    column = 0
    for _ in range(index + 1):
        while column < len(line) and line[column].isspace():
            column += 1
        start = column
        while column < len(line) and not line[column].isspace():
            column += 1
    return start


def _number(args: list[str], default: float) -> float | None:
    if not args:
        return default
    try:
        value = float(args[0])
    except ValueError:
        return None
    return value if value >= 0 else None


def _lines(lines: list[str]) -> str:
    return "".join(line + CRLF for line in lines)


def show_version_text(device: DeviceState) -> list[str]:
    """IOS 15 on a Catalyst 2960-X, close enough for ntc-templates' cisco_ios_show_version."""
    serial = f"FOC{device.index:08d}"
    return [
        "Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M), Version 15.2(7)E4, "
        "RELEASE SOFTWARE (fc2)",
        "Technical Support: http://www.cisco.com/techsupport",
        "Copyright (c) 1986-2021 by Cisco Systems, Inc.",
        "Compiled Fri 12-Mar-21 11:18 by prod_rel_team",
        "",
        "ROM: Bootstrap program is C2960X boot loader",
        "BOOTLDR: C2960X Boot Loader (C2960X-HBOOT-M) Version 15.2(7r)E4, RELEASE SOFTWARE (fc1)",
        "",
        f"{device.hostname} uptime is 1 week, 2 days, 3 hours, 4 minutes",
        "System returned to ROM by power-on",
        'System image file is "flash:c2960x-universalk9-mz.152-7.E4.bin"',
        "",
        "cisco WS-C2960X-48FPD-L (APM86XXX) processor (revision B0) with 524288K bytes of memory.",
        f"Processor board ID {serial}",
        "Last reset from power-on",
        "1 Virtual Ethernet interface",
        "52 Gigabit Ethernet interfaces",
        "",
        f"Base ethernet MAC Address       : {_mac(device.index)}",
        f"System serial number            : {serial}",
        "",
        "Configuration register is 0xF",
    ]


def show_ip_interface_brief_text(device: DeviceState) -> list[str]:
    high, low = divmod(device.index, 250)
    rows = [
        ("Vlan1", f"10.{high % 250}.{low}.1", "up", "up"),
        ("GigabitEthernet1/0/1", f"192.168.{low}.1", "up", "up"),
        ("GigabitEthernet1/0/2", "unassigned", "down", "down"),
        ("GigabitEthernet1/0/3", "unassigned", "administratively down", "down"),
    ]
    lines = ["Interface              IP-Address      OK? Method Status                Protocol"]
    for name, address, status, protocol in rows:
        method = "NVRAM" if address != "unassigned" else "unset"
        lines.append(f"{name:<23}{address:<16}YES {method:<7}{status:<22}{protocol}")
    return lines


def running_config_text(device: DeviceState) -> list[str]:
    body = ["!", f"hostname {device.hostname}", "!"]
    for line, children in device.config.items():
        body.append(line)
        body.extend(children)
        body.append("!")
    body.append("end")
    size = sum(len(line) + 1 for line in body)
    return ["Building configuration...", "", f"Current configuration : {size} bytes", *body]


def _mac(index: int) -> str:
    return "00:1b:54:" + ":".join(f"{b:02x}" for b in index.to_bytes(3, "big"))
