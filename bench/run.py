"""The benchmark of the Engine issue, in one run: runplane with each executor and Celery.

    .venv/bin/python -m bench.run [--quick | --smoke] [--out bench/results/latest.json]

Starts every process it measures and stops them all at the end, also on Ctrl-C or an error;
contacts only 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console

from bench import machine_speed, report, runplane_runs
from bench import rounds as bench_rounds
from bench.server import Server, Unavailable, tail

ROOT = Path(__file__).resolve().parents[1]
EXECUTORS = ("fork", "spawn")
# Also measurable, side by side with the default: the same executors with runs unconfined
# (RUNPLANE_CONFINE=off), which shows what Landlock costs a run.
KNOWN_EXECUTORS = (*EXECUTORS, "fork-unconfined", "spawn-unconfined")
# Wide enough for the table when the output goes to a file or a pipe.
console = Console(width=None if sys.stdout.isatty() else 132)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a short run: fewer calls and runs (figures are rough)")
    parser.add_argument("--smoke", action="store_true",
                        help="seconds, not minutes: every row and step (the memory check "
                             "too) on tiny sizes, to see the bench works; figures mean nothing")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/latest.json",
                        help="where to write the JSON (default bench/results/latest.json)")
    parser.add_argument("--executors", default=",".join(EXECUTORS),
                        help="runplane executors to measure, in order (default fork,spawn; "
                             "also fork-unconfined, spawn-unconfined)")
    parser.add_argument("--no-celery", action="store_true", help="leave out the Celery peer")
    parser.add_argument("--warmup", type=int,
                        help="calls before measuring (50; quick 10; smoke 2)")
    parser.add_argument("--sync-calls", type=int,
                        help="sequential calls timed (500; quick 100; smoke 10)")
    parser.add_argument("--async-runs", type=int,
                        help="runs submitted at once (2000; quick 300; smoke 20)")
    parser.add_argument("--concurrency", type=int, default=16,
                        help="concurrent connections submitting async runs (16)")
    parser.add_argument("--runs-for-memory", type=int,
                        help="total runs before the last RSS reading "
                             "(10000; quick 1000; smoke 52)")
    parser.add_argument("--memory-executors", default="fork",
                        help="executors that get the memory check (default fork)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure every row this many times, rows taking turns, and "
                             "report the median of each figure (default 1; the memory check "
                             "runs in the first round only)")
    args = parser.parse_args(argv)
    # (warmup, sync calls, async runs, runs for memory): full, --quick, --smoke. The smoke
    # run's memory check still submits one batch past the measured runs.
    sizes = (2, 10, 20, 52) if args.smoke else (10, 100, 300, 1000) if args.quick else (
        50, 500, 2000, 10_000)
    args.warmup = args.warmup if args.warmup is not None else sizes[0]
    args.sync_calls = args.sync_calls or sizes[1]
    args.async_runs = args.async_runs or sizes[2]
    if args.runs_for_memory is None:
        args.runs_for_memory = sizes[3]
    args.executors = [name for name in args.executors.split(",") if name]
    args.memory_executors = set(args.memory_executors.split(","))
    unknown = set(args.executors) - set(KNOWN_EXECUTORS)
    if unknown:
        parser.error(f"unknown executor(s): {', '.join(sorted(unknown))}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), None)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain")),
        "versions": {name: version(name) for name in ("runplane", "celery", "redis", "httpx")},
        "loadavg_at_start": os.getloadavg(),
        "speed_loop_ms_at_start": machine_speed.loop_ms(),
    }


def measure_runplane(executor: str, workdir: Path, plan: runplane_runs.Plan) -> dict[str, Any]:
    workdir.mkdir()
    server = Server(executor, workdir)
    try:
        server.start()
        console.print(f"  server pid {server.pid} on {server.base_url}")
        return runplane_runs.measure(server, plan, lambda text: console.print(f"  {text}"))
    except Unavailable as error:
        return {"available": False, "reason": str(error)}
    except Exception as error:
        return {"available": False, "error": True, "reason": f"{error!r}",
                "server_log": tail(server.stderr_path, 20)}
    finally:
        server.stop()


def measure_celery(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    workdir.mkdir()
    try:
        from bench import celery_peer
    except ImportError as error:
        return {"available": False,
                "reason": f"{error} (install with: .venv/bin/pip install -e '.[bench]')"}
    try:
        return celery_peer.measure(workdir, args.warmup, args.sync_calls, args.async_runs)
    except Unavailable as error:
        return {"available": False, "reason": str(error)}
    except Exception as error:
        return {"available": False, "error": True, "reason": f"{error!r}",
                "worker_log": tail(workdir / "celery.log", 20)}


def measure_rows(args: argparse.Namespace, workdir: Path, *, first: bool) -> dict[str, Any]:
    """Every row once; the memory check only in the first round (it takes the longest)."""
    workdir.mkdir()
    results: dict[str, Any] = {}
    for executor in args.executors:
        plan = runplane_runs.Plan(
            warmup=args.warmup, sync_calls=args.sync_calls, async_runs=args.async_runs,
            concurrency=args.concurrency,
            runs_for_memory=(args.runs_for_memory
                             if first and executor in args.memory_executors else 0),
        )
        console.print(f"[bold]runplane, executor {executor}[/]: {plan}")
        results[executor] = measure_runplane(executor, workdir / executor, plan)
    if not args.no_celery:
        console.print("[bold]celery[/]: worker --concurrency 2 --pool prefork")
        results["celery"] = measure_celery(workdir / "celery", args)
    return results


def interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # a SIGTERM of the bench stops its processes as Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in background
    facts = machine()
    started = time.monotonic()
    rounds = []
    with tempfile.TemporaryDirectory(prefix="runplane-bench-") as temp:
        for index in range(args.rounds):
            if args.rounds > 1:
                console.print(f"[bold]round {index + 1} of {args.rounds}[/]")
            rounds.append(measure_rows(args, Path(temp) / f"round-{index + 1}", first=index == 0))
    results = rounds[0] if len(rounds) == 1 else bench_rounds.combine(rounds)
    facts["loadavg_at_end"] = os.getloadavg()
    facts["speed_loop_ms_at_end"] = machine_speed.loop_ms()
    facts["bench_seconds"] = round(time.monotonic() - started, 1)
    checks = report.targets(results)
    report.print_report(results, checks, console)
    if args.rounds > 1:
        for row, result in results.items():
            each = result.get("rounds") or []
            console.print(f"{row}, each round: sync p50 "
                          f"{' / '.join(str(item['sync_p50_ms']) for item in each)} ms, async "
                          f"{' / '.join(str(item['async_runs_per_s']) for item in each)} runs/s")
    document = {"machine": facts, "quick": args.quick, "smoke": args.smoke,
                "plan": {"warmup": args.warmup, "sync_calls": args.sync_calls,
                         "async_runs": args.async_runs, "concurrency": args.concurrency,
                         "runs_for_memory": args.runs_for_memory, "rounds": args.rounds,
                         "memory_executors": sorted(args.memory_executors)},
                "results": results, "targets": checks}
    report.write_json(args.out, document)
    console.print(machine_speed.describe(facts["speed_loop_ms_at_start"],
                                         facts["speed_loop_ms_at_end"]))
    console.print(f"written to {args.out}")
    return 1 if any(row.get("error") for row in results.values()) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: every process started was stopped")
        sys.exit(130)
