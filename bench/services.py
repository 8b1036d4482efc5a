"""The service door's targets: a `per_device` snippet service over 10,000 devices, and a sync
`run_service` on one device against the script door's sync endpoint, per executor.

    .venv/bin/python -m bench.services [--executors fork,spawn] [--devices 10000]
        [--sync-calls 300] [--time-limit 600] [--profile 30] [--smoke]
        [--out bench/results/services.json]

For each executor, a fresh `runplane serve` (bench/server.py: a temporary SQLite file, default
settings but RUNPLANE_EXECUTOR) gets `--devices` devices in one POST /rest/instance/device,
then:

- sync: after a warm-up, `--sync-calls` sequential calls of each door, alternating in blocks
  of 50 so both see the same machine: POST /rest/run_service {"name": "one", "devices":
  ["d000000"]} (sync: no "async" key) answering success, and the script door's endpoint
  running `print(ARGS.get("n"))` (bench/runplane_runs.py). p50/p90/p99 of each, and the p50
  difference (target: <= 2 ms).
- fan-out: POST /rest/run_service {"name": "trivial", "devices": [all], "async": true} for a
  snippet `results['success'] = True` with max_processes 50, then /rest/result polled every
  0.25 s until the run ends: seconds and targets/s (targets: <= 10 s, >= 1,000 targets/s).
  Past `--time-limit` the run is stopped and what finished by then is counted (the stop
  answer lists the targets aborted and still running), so a slow executor still gives a rate.
  The server's CPU (itself and its live descendants) and the machine's are sampled alongside.
  With `--profile N`, `py-spy record` samples the server and its subprocesses for the first
  N seconds of the fan-out; the top functions (own time and inclusive) go in the JSON.

Prints a table and writes every figure, with the machine's facts, to `--out`.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from rich.console import Console

from bench import machine_speed, procinfo, profiling, runplane_runs, services_report
from bench.measure import Latency
from bench.run import machine
from bench.server import Server, Unavailable, tail

ROOT = Path(__file__).resolve().parents[1]
EXECUTORS = ("fork", "spawn")
TRIVIAL = "results['success'] = True"
BLOCK = 50  # sync calls of one door before switching to the other
console = Console(width=None if sys.stdout.isatty() else 132)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.services",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--executors", default=",".join(EXECUTORS),
                        help="executors to measure, in order (default fork,spawn)")
    parser.add_argument("--devices", type=int, help="targets of the fan-out (10,000)")
    parser.add_argument("--max-processes", type=int, help="of the fan-out's service (50)")
    parser.add_argument("--sync-calls", type=int, help="per door (300)")
    parser.add_argument("--warmup", type=int, help="calls per door before timing (30)")
    parser.add_argument("--time-limit", type=float,
                        help="seconds the fan-out may take before it is stopped and counted "
                             "(600)")
    parser.add_argument("--smoke", action="store_true",
                        help="seconds, not minutes: every row and step on tiny sizes (20 "
                             "devices, 10 sync calls per door); the figures mean nothing")
    parser.add_argument("--profile", type=float, default=0.0,
                        help="py-spy the server for this many seconds of the fan-out (0: no)")
    parser.add_argument("--profile-dir", type=Path,
                        help="keep py-spy's folded stacks here (default: a temporary directory)")
    parser.add_argument("--skip-fan-out", action="store_true")
    parser.add_argument("--skip-sync", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/services.json")
    args = parser.parse_args(argv)
    for name, full, smoke in (("devices", 10_000, 20), ("max_processes", 50, 4),
                              ("sync_calls", 300, 10), ("warmup", 30, 2),
                              ("time_limit", 600.0, 60.0)):
        if getattr(args, name) is None:
            setattr(args, name, smoke if args.smoke else full)
    args.executors = [name for name in args.executors.split(",") if name]
    if args.profile_dir:
        args.profile_dir.mkdir(parents=True, exist_ok=True)
    unknown = set(args.executors) - set(EXECUTORS)
    if unknown:
        parser.error(f"unknown executor(s): {', '.join(sorted(unknown))}")
    return args


def device_name(index: int) -> str:
    return f"d{index:06d}"


# Set-up -------------------------------------------------------------------------------------


def create(client: httpx.Client, kind: str, body: Any) -> dict[str, Any]:
    answer = client.post(f"/rest/instance/{kind}", json=body)
    if answer.status_code != 200 or answer.json().get("failure"):
        raise RuntimeError(f"POST /rest/instance/{kind}: {answer.status_code} {answer.text[:300]}")
    return answer.json()  # type: ignore[no-any-return]


def set_up(client: httpx.Client, devices: int, max_processes: int) -> float:
    """The inventory and the two services; answers how long the devices took to create."""
    started = time.perf_counter()
    made = create(client, "device", [
        {"name": device_name(index), "ip_address": f"10.{index // 65536}.{index // 256 % 256}."
         f"{index % 256}", "vendor": "bench"} for index in range(devices)])
    seconds = time.perf_counter() - started
    if len(made["success"]) != devices:
        raise RuntimeError(f"only {len(made['success'])} of {devices} devices created")
    for name, processes in (("trivial", max_processes), ("one", 1)):
        create(client, "service", {"name": name, "type": "python_snippet_service",
                                   "source_code": TRIVIAL, "max_processes": processes})
    return seconds


# Sync ---------------------------------------------------------------------------------------


def service_call(client: runplane_runs.KeepAlive) -> Callable[[int], str | None]:
    body = {"name": "one", "devices": [device_name(0)]}

    def call(index: int) -> str | None:
        status, data = client.post("/rest/run_service", body)
        if status != 200:
            return f"HTTP {status}: {data[:300].decode(errors='replace')}"
        result = json.loads(data)
        if result.get("success") is not True or result["summary"]["success"] != body["devices"]:
            return f"not a success: {str(result)[:300]}"
        return None

    return call


def timed(call: Callable[[int], str | None], index: int) -> tuple[float | None, str | None]:
    started = time.perf_counter()
    try:
        error = call(index)
    except Exception as exception:
        error = repr(exception)
    elapsed = time.perf_counter() - started
    return (None, error) if error else (elapsed, None)


def measure_sync(server: Server, calls: int, warmup: int) -> dict[str, Any]:
    """Both doors, alternating in blocks, one keep-alive connection each, both on the
    benchmark's own http.client wrapper (a client's CPU is in every latency it measures)."""
    with httpx.Client(base_url=server.base_url, headers={"X-API-KEY": server.admin_key},
                      timeout=60) as client:
        door = runplane_runs.set_up(client, server)
    basic = base64.b64encode(f"admin:{server.admin_key}".encode()).decode()
    clients = {
        "script_door": runplane_runs.KeepAlive(door.base_url, door.headers),
        "service_door": runplane_runs.KeepAlive(server.base_url,
                                                {"Authorization": f"Basic {basic}"}),
    }
    try:
        doors = {
            "script_door": runplane_runs.sync_call(clients["script_door"], door,
                                                   runplane_runs.Split()),
            "service_door": service_call(clients["service_door"]),
        }
        seconds: dict[str, list[float]] = {name: [] for name in doors}
        errors: dict[str, list[str]] = {name: [] for name in doors}
        for call in doors.values():
            for index in range(warmup):
                call(index)
        done = 0
        while done < calls:
            block = min(BLOCK, calls - done)
            for name, call in doors.items():
                for index in range(done, done + block):
                    elapsed, error = timed(call, index)
                    if elapsed is not None:
                        seconds[name].append(elapsed)
                    else:
                        errors[name].append(error or "?")
            done += block
    finally:
        for each in clients.values():
            each.close()
    latency = {name: Latency.of(seconds[name], len(errors[name]),
                                errors[name][0] if errors[name] else None).as_dict()
               for name in doors}
    gap = latency["service_door"]["p50_ms"] - latency["script_door"]["p50_ms"]
    return {**latency, "p50_gap_ms": round(gap, 3)}


# Fan-out ------------------------------------------------------------------------------------


def measure_fan_out(server: Server, devices: int, time_limit: float, profile: float,
                    workdir: Path) -> dict[str, Any]:
    names = [device_name(index) for index in range(devices)]
    profile_path = workdir / f"fan-out-{server.executor}.folded"
    with httpx.Client(base_url=server.base_url, auth=("admin", server.admin_key),
                      timeout=120) as client:
        cpu_before, busy_before = procinfo.tree_cpu_seconds(server.pid), procinfo.machine_busy()
        started = time.perf_counter()
        answer = client.post("/rest/run_service",
                             json={"name": "trivial", "devices": names, "async": True})
        submitted = time.perf_counter() - started
        if answer.status_code != 200 or answer.json().get("errors"):
            raise RuntimeError(f"run_service: {answer.status_code} {answer.text[:300]}")
        runtime = answer.json()["runtime"]
        profiler = profiling.start(server.pid, profile, profile_path, console.print)
        stopped: dict[str, Any] | None = None
        while True:
            state = client.get(f"/rest/result/trivial/{runtime}").json()
            if state["status"] != "Running":
                break
            if time.perf_counter() - started > time_limit:
                stopped = client.post(f"/rest/stop/{runtime}").json()
                elapsed_at_stop = time.perf_counter() - started
                state = wait_ended(client, runtime)
                break
            time.sleep(0.25)
        elapsed = time.perf_counter() - started
        cpu = procinfo.tree_cpu_seconds(server.pid) - cpu_before
        busy_after = procinfo.machine_busy()
    result = state["result"]
    if stopped is None:
        succeeded = len(result["summary"]["success"])
        finished = devices
    else:
        # Targets neither aborted (never started) nor still running at the stop had finished.
        finished = devices - len(stopped["aborted"]) - len(stopped["stopping"])
        succeeded = finished
        elapsed = elapsed_at_stop
    machine_share = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1])
    measured: dict[str, Any] = {
        "devices": devices, "finished": finished, "succeeded": succeeded,
        "failed": len(result["summary"]["failure"]) if stopped is None else None,
        "stopped_at_time_limit": stopped is not None, "seconds": round(elapsed, 3),
        "submit_seconds": round(submitted, 3),
        "targets_per_s": round(finished / elapsed, 1) if elapsed > 0 else None,
        "server_cpu_seconds": round(cpu, 2),
        "machine_cpu_busy_percent": round(100 * machine_share, 1),
    }
    if profiler is not None:
        _, error = profiler.communicate(timeout=profile + 120)
        if profiler.returncode == 0 and profile_path.exists():
            measured["profile"] = profiling.summarize(profile_path)
        else:
            measured["profile_error"] = error.decode(errors="replace")[-500:]
    return measured


def wait_ended(client: httpx.Client, runtime: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        state: dict[str, Any] = client.get(f"/rest/result/trivial/{runtime}").json()
        if state["status"] != "Running" or time.monotonic() > deadline:
            return state
        time.sleep(0.25)


# One executor -------------------------------------------------------------------------------


def measure(executor: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    workdir.mkdir()
    server = Server(executor, workdir)
    try:
        server.start()
        console.print(f"  server pid {server.pid} on {server.base_url}")
        with httpx.Client(base_url=server.base_url, auth=("admin", server.admin_key),
                          timeout=300) as client:
            import_seconds = set_up(client, args.devices, args.max_processes)
        console.print(f"  {args.devices:,} devices created in {import_seconds:.2f} s")
        measured: dict[str, Any] = {"available": True,
                                    "device_import_seconds": round(import_seconds, 3)}
        if not args.skip_sync:
            measured["sync"] = measure_sync(server, args.sync_calls, args.warmup)
            console.print(f"  sync p50: service door {measured['sync']['service_door']['p50_ms']}"
                          f" ms, script door {measured['sync']['script_door']['p50_ms']} ms")
        if not args.skip_fan_out:
            measured["fan_out"] = measure_fan_out(server, args.devices, args.time_limit,
                                                  args.profile, args.profile_dir or workdir)
            console.print(f"  fan-out: {measured['fan_out']['finished']:,} targets in "
                          f"{measured['fan_out']['seconds']} s")
        measured["memory"] = server.memory()
        return measured
    except Unavailable as error:
        return {"available": False, "reason": str(error)}
    except Exception as error:
        return {"available": False, "error": True, "reason": f"{error!r}",
                "server_log": tail(server.stderr_path, 20)}
    finally:
        server.stop()


def interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    signal.signal(signal.SIGTERM, interrupt)
    facts = machine()
    started = time.monotonic()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="runplane-bench-services-") as temp:
        for executor in args.executors:
            console.print(f"[bold]runplane, executor {executor}[/]")
            results[executor] = measure(executor, Path(temp) / executor, args)
    facts["loadavg_at_end"] = os.getloadavg()
    facts["speed_loop_ms_at_end"] = machine_speed.loop_ms()
    facts["bench_seconds"] = round(time.monotonic() - started, 1)
    checks = services_report.targets(results)
    services_report.print_report(results, checks, console)
    console.print(machine_speed.describe(facts["speed_loop_ms_at_start"],
                                         facts["speed_loop_ms_at_end"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plan = {"smoke": args.smoke, "devices": args.devices, "max_processes": args.max_processes,
            "sync_calls": args.sync_calls, "warmup": args.warmup,
            "time_limit": args.time_limit, "profile_seconds": args.profile}
    args.out.write_text(json.dumps({"machine": facts, "plan": plan, "results": results,
                                    "targets": checks}, indent=2) + "\n")
    console.print(f"written to {args.out}")
    return 1 if any(row.get("error") for row in results.values()) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: every process started was stopped")
        sys.exit(130)
