"""Benchmark processes: memory and CPU of one and its descendants (/proc), the machine's
CPU, and stopping them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


def status_kib(pid: int, field: str) -> int:
    """A `kB` field of /proc/<pid>/status (VmRSS, VmHWM), 0 if the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def descendants(root: int) -> list[int]:
    """Every live process below `root`, by walking the parent links of /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the fields follow the last ')'.
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def memory(pid: int) -> dict[str, float]:
    """RSS now and peak (VmHWM) of `pid`, and RSS summed over it and its descendants, in MB."""
    tree = [pid, *descendants(pid)]
    return {
        "rss_mb": round(status_kib(pid, "VmRSS") / 1024, 1),
        "peak_rss_mb": round(status_kib(pid, "VmHWM") / 1024, 1),
        "tree_rss_mb": round(sum(status_kib(p, "VmRSS") for p in tree) / 1024, 1),
        "tree_peak_rss_mb": round(sum(status_kib(p, "VmHWM") for p in tree) / 1024, 1),
        "tree_processes": len(tree),
    }


def stop_group(process: subprocess.Popen[Any]) -> None:
    """SIGTERM, SIGKILL after 30 s, then anything left in its process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _ticks(pid: int) -> int:
    """utime + stime + cutime + cstime of a process, in clock ticks (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return sum(int(value) for value in fields[11:15])


def tree_cpu_seconds(pid: int) -> float:
    """CPU used so far by `pid` and its live descendants (and the children they reaped)."""
    ticks = sum(_ticks(member) for member in (pid, *descendants(pid)))
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of every CPU since boot, from /proc/stat."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)
