"""The README's curl lines, run as a reader would: each `curl` of a README block, with `$KEY`
the printed admin key and the port of a real server, answers 2xx, and where the README shows
the answer in a comment under it (`# {...}`, `...` for the rest), the answer looks like it."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import ServerProcess

README = Path(__file__).resolve().parents[2] / "README.md"
README_BASE = "http://127.0.0.1:8000"
BLOCK = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)
VARYING = {"executed_at", "duration"}  # the README shows one run's; only their kinds must match
FINAL = {"success", "failure", "timeout"}


@dataclass
class Curl:
    command: str
    answer: dict[str, Any] | None  # as the README's comment shows it; None: no comment

    @property
    def reads(self) -> bool:
        """A GET: may be repeated until the answer is final ("poll the trace ...")."""
        words = shlex.split(self.command)
        return not {"-X", "-d", "--data"} & set(words)


def complete(command: str) -> bool:
    """A whole shell command: no line continued, no quote left open."""
    if command.endswith("\\"):
        return False
    try:
        shlex.split(command)
    except ValueError:
        return False
    return True


def curls(block: str) -> list[Curl]:
    """The curl commands of a README block, each with the answer commented under it."""
    found: list[Curl] = []
    pending = ""
    for line in block.splitlines():
        if pending:
            pending += "\n" + line
        elif line.startswith("curl "):
            pending = line
        elif line.startswith("# {") and found and found[-1].answer is None:
            # The README elides the rest of a long answer with `...`.
            found[-1].answer = json.loads(line[2:].replace(",...}", "}"))
            continue
        else:
            continue
        if complete(pending):
            found.append(Curl(pending, None))
            pending = ""
    assert not pending, f"an unfinished command in the README: {pending}"
    return found


def readme_block(heading: str) -> str:
    """The first bash block of the README's section `heading`."""
    text = README.read_text()
    section = text[text.index(f"\n## {heading}"):]
    found = BLOCK.search(section)
    assert found, f"no bash block under {heading!r}"
    return found.group(1)


def run(curl: Curl, server: ServerProcess, key: str) -> tuple[int, Any]:
    command = curl.command.replace(README_BASE, server.base_url)
    assert command.startswith("curl ")
    command = "curl -sS --max-time 60 -w '\\n%{http_code}' " + command.removeprefix("curl ")
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=90,
                          env={**os.environ, "KEY": key})
    assert done.returncode == 0, f"{command}: {done.stderr}"
    body, _, status = done.stdout.rpartition("\n")
    return int(status), json.loads(body) if body else None


def mismatches(expected: dict[str, Any], actual: Any) -> list[str]:
    if not isinstance(actual, dict):
        return [f"not an object: {actual!r}"]
    wrong = []
    for name, value in expected.items():
        if name not in actual:
            wrong.append(f"{name} missing")
        elif name in VARYING and value is not None:
            if not isinstance(actual[name], type(value)):
                wrong.append(f"{name}: {actual[name]!r} is not like {value!r}")
        elif actual[name] != value:
            wrong.append(f"{name}: {actual[name]!r} != {value!r}")
    return wrong


def run_block(heading: str, server: ServerProcess) -> int:
    key = server.admin_key
    assert key, "the server printed no admin key at its first start"
    commands = curls(readme_block(heading))
    for curl in commands:
        deadline = time.monotonic() + 30
        while True:
            status, answer = run(curl, server, key)
            wrong = [] if curl.answer is None else mismatches(curl.answer, answer)
            if (200 <= status < 300 and not wrong) or not curl.reads:
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)  # a trace not final yet: poll, as the README says
        assert 200 <= status < 300, f"{curl.command}\n answered {status}: {answer}"
        assert wrong == [], f"{curl.command}\n answered {answer}: {wrong}"
    return len(commands)


def test_the_readme_parses_its_answers() -> None:
    commands = curls(readme_block("Run a script"))
    assert [curl.answer is not None for curl in commands] == [False, False, True, True]
    assert commands[3].answer is not None and commands[3].answer["status"] in FINAL


@pytest.mark.parametrize("heading", ["Run a script", "Service door: inventory"])
def test_the_readmes_curl_lines_answer_as_it_shows(
    heading: str, shared_server: ServerProcess
) -> None:
    assert run_block(heading, shared_server) >= 3
