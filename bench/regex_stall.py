"""One tenant's catastrophic regex against another tenant's latency (issue 14, item 2).

    .venv/bin/python -m bench.regex_stall [--database-url postgresql://.../empty_db] [--smoke]
        [--out bench/results/regex_stall.json]

Starts its own `runplane serve` (a fresh SQLite file, or --database-url an empty database) and
makes two instances, each used with an instance key of its own. Tenant A saves, per vendor
length L (25, 30, 100, 250, 10,000), N devices whose vendor is "a"*L + "!" (Python's `re`
takes about 2^L steps to fail `(a+)+$` on one; past a vendor's 256 characters, a custom
property `banner` holds the text) and one whose vendor is "a"*L (a match), and a pool
`redos-L`: `device_vendor` (or `device_banner`) regex `(a+)+$` and `device_group` equality
`L<L>`. Tenant B has
a python3 script `print(ARGS.get("n"))` and a script endpoint for it.

Two phases, one after the other: *baseline*, tenant A idle; *during*, tenant A resolving its
pools without a pause (GET /rest/instance/pool/redos-L and the same filters through
/rest/search, each answer checked: one device). In both, tenant B makes the same sequential
calls on one keep-alive connection: GET of its script, then a sync run of its endpoint (200,
success, stdout n). Printed and written: p50 / p99 / max of each, side by side. Before the
server starts, Python's `re` and RE2 (runplane.linear_regex) run `(a+)+$` on "a"*L + "!" in
this process for small L (20, 22, 24; the time doubles with each character), to show what
RE2 replaces. Before issue 14's fix: a pool GET at L=25 with 4 devices took 10.6 s and tenant
B's requests 10.1 s each. Only 127.0.0.1 is contacted; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from bench import machine_speed
from bench.measure import Latency
from bench.run import machine
from bench.server import RUNPLANE, Server, tail
from runplane import linear_regex

PATTERN = "(a+)+$"
LENGTHS = (25, 30, 100, 250, 10_000)
VENDOR_MAX_CHARS = 256  # a device's vendor; longer texts go in a custom property


def field_for(length: int) -> str:
    """The device property that holds the text: vendor, or a custom property past 256."""
    return "vendor" if length + 1 <= VENDOR_MAX_CHARS else "banner"
TENANTS = ("tenant-a", "tenant-b")
SOURCE = 'print(ARGS.get("n"))'
CALL_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Plan:
    devices: int  # per length, besides the one that matches
    rounds: int  # tenant B's calls of each kind, per phase
    warmup: int
    python_lengths: tuple[int, ...]


FULL = Plan(devices=100, rounds=300, warmup=20, python_lengths=(20, 22, 24))
SMOKE = Plan(devices=4, rounds=10, warmup=2, python_lengths=(12, 14, 16))


def in_process(lengths: tuple[int, ...]) -> list[dict[str, Any]]:
    """Seconds for Python's re and for RE2 to fail `(a+)+$` on "a"*L + "!"."""
    rows = []
    compiled = re.compile(PATTERN)
    for length in (*lengths, *LENGTHS):
        text = "a" * length + "!"
        python_s = None
        if length in lengths:  # only small lengths: each character doubles the time
            started = time.perf_counter()
            assert compiled.search(text) is None
            python_s = time.perf_counter() - started
        started = time.perf_counter()
        assert not linear_regex.search(PATTERN, text)
        re2_s = time.perf_counter() - started
        rows.append({"length": length, "python_re_s": python_s and round(python_s, 6),
                     "re2_s": round(re2_s, 6)})
    return rows


def instance_key(server: Server, instance: str) -> str:
    made = subprocess.run(
        [RUNPLANE, "key", "create", "--instance", instance, "--role", "write",
         "--database", server.database],
        capture_output=True, text=True, timeout=60,
        env={name: value for name, value in os.environ.items()
             if not name.startswith("RUNPLANE_")},
    )
    if made.returncode != 0:
        raise RuntimeError(f"key create: {made.stderr.strip()}")
    return made.stdout.strip()


def checked(answer: httpx.Response, status: int = 200) -> Any:
    if answer.status_code != status:
        raise RuntimeError(f"{answer.request.method} {answer.request.url.path}: "
                           f"{answer.status_code} {answer.text[:300]}")
    return answer.json()


def set_up(server: Server, plan: Plan) -> tuple[str, str]:
    """Both tenants and their data; answers (tenant A's key, tenant B's key)."""
    with httpx.Client(base_url=server.base_url, headers={"X-API-KEY": server.admin_key},
                      timeout=CALL_TIMEOUT_S) as admin:
        for name in TENANTS:
            checked(admin.post("/v1.1/instances/", json={"name": name}), 201)
    key_a, key_b = (instance_key(server, name) for name in TENANTS)
    with httpx.Client(base_url=server.base_url, headers={"X-API-KEY": key_b},
                      timeout=CALL_TIMEOUT_S) as tenant_b:
        base = "/v1.1/instances/tenant-b/"
        script = checked(tenant_b.post(f"{base}snippets/scripts/", json={
            "label": "trivial", "runtime_name": "python3", "source": SOURCE}), 201)
        checked(tenant_b.post(f"{base}endpoints/scripts/", json={
            "name": "trivial", "script": script["id"]}), 201)
    with httpx.Client(base_url=server.base_url, auth=("tenant-a", key_a),
                      timeout=CALL_TIMEOUT_S) as tenant_a:
        for length in LENGTHS:
            field = field_for(length)
            devices = [{"name": f"L{length}-{index:05d}", field: "a" * length + "!",
                        "group": f"L{length}"} for index in range(plan.devices)]
            devices.append({"name": f"L{length}-match", field: "a" * length,
                            "group": f"L{length}"})
            saved = checked(tenant_a.post("/rest/instance/device", json=devices))
            if saved.get("failure"):  # eNMS: only when something failed
                raise RuntimeError(f"devices refused: {saved['failure'][:3]}")
            checked(tenant_a.post("/rest/instance/pool", json={
                "name": f"redos-{length}", f"device_{field}": PATTERN,
                f"device_{field}_match": "regex", "device_group": f"L{length}",
                "device_group_match": "equality"}))
    return key_a, key_b


class Timings:
    """Seconds of the correct answers of each kind of call; the wrong ones counted."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = {}
        self.errors: dict[str, list[str]] = {}

    def time(self, kind: str, call: Any) -> None:
        started = time.perf_counter()
        try:
            problem = call()
        except Exception as error:  # a timeout, a reset: counted, not fatal
            problem = repr(error)
        elapsed = time.perf_counter() - started
        if problem is None:
            self.seconds.setdefault(kind, []).append(elapsed)
        else:
            self.errors.setdefault(kind, []).append(str(problem)[:300])

    def figures(self) -> dict[str, dict[str, Any]]:
        kinds = sorted(set(self.seconds) | set(self.errors))
        return {kind: Latency.of(self.seconds.get(kind, []), len(self.errors.get(kind, [])),
                                 next(iter(self.errors.get(kind, [])), None)).as_dict()
                for kind in kinds}


def tenant_b_calls(client: httpx.Client, timings: Timings, rounds: int) -> None:
    base = "/v1.1/instances/tenant-b/"

    def get_script() -> str | None:
        answer = client.get(f"{base}snippets/scripts/1/")
        return None if answer.status_code == 200 else f"HTTP {answer.status_code}"

    for index in range(rounds):
        def sync_run(n: int = index) -> str | None:
            answer = client.post(f"{base}endpoints/scripts/trivial/run/", json={"n": n})
            if answer.status_code != 200:
                return f"HTTP {answer.status_code}: {answer.text[:200]}"
            body = answer.json()
            right = body.get("status") == "success" and body["result"].get("stdout") == str(n)
            return None if right else f"{body.get('status')}: {body.get('result')}"

        timings.time("script_get", get_script)
        timings.time("sync_run", sync_run)


def tenant_a_pass(client: httpx.Client, timings: Timings) -> None:
    """Each pool resolved once through GET and once through /rest/search."""
    for length in LENGTHS:
        def pool_get(size: int = length) -> str | None:
            answer = client.get(f"/rest/instance/pool/redos-{size}")
            if answer.status_code != 200:
                return f"HTTP {answer.status_code}: {answer.text[:200]}"
            count = answer.json().get("device_count")
            return None if count == 1 else f"device_count {count}, not 1"

        def search(size: int = length) -> str | None:
            answer = client.post("/rest/search", json={
                "type": "device", "columns": ["name"], "search_criteria": {
                    field_for(size): PATTERN, f"{field_for(size)}_filter": "regex",
                    "group": f"L{size}", "group_filter": "equality"}})
            if answer.status_code != 200:
                return f"HTTP {answer.status_code}: {answer.text[:200]}"
            names = [row["name"] for row in answer.json()]
            return None if names == [f"L{size}-match"] else f"found {names}"

        timings.time(f"pool_get_L{length}", pool_get)
        timings.time(f"search_L{length}", search)


def measure(server: Server, plan: Plan, say: Any) -> dict[str, Any]:
    key_a, key_b = set_up(server, plan)
    say(f"  two tenants, {plan.devices + 1} devices and a pool per length {LENGTHS}")
    with httpx.Client(base_url=server.base_url, headers={"X-API-KEY": key_b},
                      timeout=CALL_TIMEOUT_S) as tenant_b, \
            httpx.Client(base_url=server.base_url, auth=("tenant-a", key_a),
                         timeout=CALL_TIMEOUT_S) as tenant_a:
        tenant_b_calls(tenant_b, Timings(), plan.warmup)
        tenant_a_pass(tenant_a, Timings())
        baseline = Timings()
        tenant_b_calls(tenant_b, baseline, plan.rounds)
        say("  baseline done (tenant A idle)")

        during, pools = Timings(), Timings()
        stop, passes = threading.Event(), [0]

        def keep_resolving() -> None:
            while not stop.is_set():
                tenant_a_pass(tenant_a, pools)
                passes[0] += 1

        resolver = threading.Thread(target=keep_resolving, name="tenant-a", daemon=True)
        resolver.start()
        try:
            tenant_b_calls(tenant_b, during, plan.rounds)
        finally:
            stop.set()
            resolver.join(CALL_TIMEOUT_S * 2 * len(LENGTHS))
        say(f"  during done (tenant A made {passes[0]} passes over its {len(LENGTHS)} pools)")
    return {"tenant_b": {"baseline": baseline.figures(), "during": during.figures()},
            "tenant_a": pools.figures(), "tenant_a_passes": passes[0]}


def show(results: dict[str, Any], console: Console) -> None:
    def cell(figures: dict[str, Any] | None) -> str:
        if not figures:
            return "-"
        text = f"{figures['p50_ms']:.1f} / {figures['p99_ms']:.1f} / {figures['max_ms']:.1f}"
        return text + (f" [red]({figures['errors']} errors)[/]" if figures["errors"] else "")

    measured = results["measured"]
    table = Table(title=f"regex stall ({results['database']}): p50 / p99 / max ms, "
                        f"tenant A's pool `{PATTERN}` against tenant B")
    for column in ("who", "request", "calls", "baseline (A idle)", "during (A resolving)"):
        table.add_column(column, justify="left" if column in ("who", "request") else "right")
    for kind, label in (("script_get", "GET script"), ("sync_run", "sync endpoint run")):
        during = measured["tenant_b"]["during"].get(kind)
        table.add_row("tenant B", label, str(during["calls"] if during else 0),
                      cell(measured["tenant_b"]["baseline"].get(kind)), cell(during))
    for length in LENGTHS:
        for kind, label in (("pool_get", "GET pool"), ("search", "/rest/search")):
            figures = measured["tenant_a"].get(f"{kind}_L{length}")
            table.add_row("tenant A", f"{label}, {field_for(length)} {length:,} chars",
                          str(figures["calls"] if figures else 0), "-", cell(figures))
    console.print(table)
    engines = Table(title=f"in this process: `{PATTERN}` failing on 'a'*L + '!' (s)")
    for column in ("L", "Python re", "RE2"):
        engines.add_column(column, justify="right")
    for row in results["in_process"]:
        python = "-" if row["python_re_s"] is None else f"{row['python_re_s']:.4f}"
        engines.add_row(f"{row['length']:,}", python, f"{row['re2_s']:.6f}")
    console.print(engines)
    console.print("Before issue 14's fix: GET pool (L=25, 4 devices) 10.6 s; tenant B's "
                  "script GET and sync run 10.1 s each while it ran.")


def errors_of(measured: dict[str, Any]) -> int:
    groups = [*measured["tenant_b"].values(), measured["tenant_a"]]
    return sum(figures["errors"] for group in groups for figures in group.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="an empty database (default: a temporary "
                        "SQLite file)")
    parser.add_argument("--smoke", action="store_true",
                        help="seconds: 4 devices a length, 10 calls a phase, re at L 12-16")
    parser.add_argument("--devices", type=int, help="devices per length that do not match "
                        f"(default {FULL.devices})")
    parser.add_argument("--rounds", type=int, help="tenant B's calls of each kind per phase "
                        f"(default {FULL.rounds})")
    parser.add_argument("--out", type=Path, default=Path("bench/results/regex_stall.json"))
    args = parser.parse_args(argv)
    plan = SMOKE if args.smoke else FULL
    plan = Plan(devices=args.devices or plan.devices, rounds=args.rounds or plan.rounds,
                warmup=plan.warmup, python_lengths=plan.python_lengths)
    console = Console(width=130)
    facts = machine()
    console.print(f"in process: Python's re at L={plan.python_lengths}, RE2 up to 10,000")
    engines = in_process(plan.python_lengths)
    with tempfile.TemporaryDirectory(prefix="runplane-bench-regex-") as temporary:
        server = Server("fork", Path(temporary), args.database_url)
        try:
            server.start()
            console.print(f"  server pid {server.pid} on {server.base_url}")
            measured = measure(server, plan, console.print)
        except Exception:
            console.print(f"server log: {tail(server.stderr_path, 20)}")
            raise
        finally:
            server.stop()
    facts["speed_loop_ms_at_end"] = machine_speed.loop_ms()
    facts["loadavg_at_end"] = os.getloadavg()
    database = "postgresql" if (args.database_url or "").startswith("postgres") else "sqlite"
    results = {"database": database, "smoke": args.smoke, "pattern": PATTERN,
               "plan": {**asdict(plan), "lengths": LENGTHS}, "in_process": engines,
               "measured": measured, "machine": facts}
    show(results, console)
    console.print(machine_speed.describe(facts["speed_loop_ms_at_start"],
                                         facts["speed_loop_ms_at_end"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 1 if errors_of(measured) else 0


if __name__ == "__main__":
    sys.exit(main())
