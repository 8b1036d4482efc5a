"""Profiles of a benchmark's server: py-spy samples of it and its subprocesses, summed up as
shares of the samples per process, per function (own time) and per runplane function
(inclusive)."""

from __future__ import annotations

import collections
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

PY_SPY = Path(sys.executable).with_name("py-spy")
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def start(pid: int, seconds: float, out: Path, say: Callable[[str], None]
          ) -> subprocess.Popen[bytes] | None:
    """py-spy recording `pid` and its subprocesses for `seconds` into `out`; None if not."""
    if seconds <= 0:
        return None
    if not PY_SPY.exists():
        say(f"[yellow]no profile[/]: {PY_SPY} not found (pip install py-spy)")
        return None
    return subprocess.Popen(
        [str(PY_SPY), "record", "--pid", str(pid), "--subprocesses", "--rate", "200",
         "--duration", str(int(seconds)), "--format", "raw", "--output", str(out),
         "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def frame_name(frame: str) -> str:
    found = FRAME.match(frame.strip())
    if not found:
        return frame.strip()
    file = found["file"]
    for marker in ("site-packages/", "src/", "lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{found['function']} ({file})"


def process_label(frame: str) -> str:
    """`process 123:"/venv/bin/python3 -I /src/runplane/engine/zygote.py 16"` -> `zygote.py`."""
    command = frame.split(":", 1)[1].strip('"').split()
    if not command:
        return "(a child, gone before its command line was read)"
    scripts = [Path(word).name for word in command[1:]
               if not word.startswith("-") and not word.isdigit() and word != "utf8"]
    return scripts[0] if scripts else Path(command[0]).name if command else frame


def summarize(path: Path, top: int = 15) -> dict[str, Any]:
    """Shares of samples from py-spy's raw (folded) output: per process; per function, own
    time; and inclusive time of runplane's own functions (the rest is framework plumbing)."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    processes: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        # py-spy --subprocesses starts each stack with its processes, parent first:
        # `process 1:"runplane serve";process 2:"python3 zygote.py";<frames>`.
        owners = [frame for frame in frames if frame.startswith("process ")]
        if owners:
            processes[process_label(owners[-1])] += count
            frames = frames[len(owners):]
        names = [frame_name(frame) for frame in frames if frame]
        if not names:
            continue
        total += count
        own[names[-1]] += count
        for name in set(names):
            if "(runplane/" in name:
                inclusive[name] += count

    def share(counter: collections.Counter[str], whole: int) -> list[dict[str, Any]]:
        return [{"function": name, "percent": round(100 * count / max(1, whole), 1)}
                for name, count in counter.most_common(top)]

    return {"samples": total, "own": share(own, total),
            "runplane_inclusive": share(inclusive, total),
            "processes": share(processes, sum(processes.values()))}
