"""Connection resets under concurrent keep-alive clients (issue 14): how many requests of 50
httpx clients, each on its own keep-alive pool, end in a reset, against the server's keep-alive.

    .venv/bin/python -m bench.keepalive [--clients 50] [--requests 6000] [--pause-share 0.1]
        [--pause-max 5.0] [--keep-alive 5,75] [--smoke] [--out bench/results/keepalive.json]

For each keep-alive (RUNPLANE_KEEP_ALIVE_SECONDS; 5 s was uvicorn's own, runplane's before) a
fresh `runplane serve` on a temporary SQLite file, an instance, a script and its endpoint; then
the clients share out the requests, a mix over the three doors (script and trace reads, sync
endpoint runs, async runs, a service door device read, a batch door progress). After a share of
its requests (--pause-share) a client pauses up to --pause-max seconds, as clients between
bursts do: httpx's pool keeps an idle connection 5 s, so a pause of just under 5 s reuses a
connection that a server with a 5 s keep-alive is closing. Counted: resets (httpx's
RemoteProtocolError, ReadError, WriteError, ConnectError), each with its request and how long
its connection had been idle, and the server's log lines about closed connections. Only
127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.run import machine
from bench.server import Server

RESETS = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.ConnectError)
Request = tuple[str, str, str, Any, dict[str, str]]  # name, method, path, JSON body, headers


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.keepalive",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--pause-share", type=float, default=0.1,
                        help="share of requests after which a client pauses")
    parser.add_argument("--pause-max", type=float, default=5.0,
                        help="a pause is uniform in 0 .. this many seconds")
    parser.add_argument("--keep-alive", default="5,75",
                        help="server keep-alive seconds to compare, comma-separated")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--smoke", action="store_true",
                        help="seconds: 5 clients, 60 requests, pauses up to 0.2 s")
    parser.add_argument("--out", type=Path, default=Path("bench/results/keepalive.json"))
    args = parser.parse_args(argv)
    if args.smoke:
        args.clients, args.requests, args.pause_max = 5, 60, 0.2
    return args


def prepare(server: Server) -> list[Request]:
    """An instance with a script, its endpoint and a device; the mix of requests on them."""
    with httpx.Client(base_url=server.base_url, headers={"X-API-KEY": server.admin_key},
                      timeout=60) as admin:
        instance = "keepalive"
        scripts = f"/v1.1/instances/{instance}/snippets/scripts/"
        steps = [
            ("/v1.1/instances/", {"name": instance}, {}),
            (scripts, {"label": "n", "runtime_name": "python3",
                       "source": "print(ARGS.get('n'))"}, {}),
            (f"/v1.1/instances/{instance}/endpoints/scripts/", {"name": "e", "script": 1}, {}),
            ("/rest/instance/device", {"name": "d1"}, {"X-RUNPLANE-INSTANCE": instance}),
        ]
        for path, body, headers in steps:
            answer = admin.post(path, json=body, headers=headers)
            if answer.status_code not in (200, 201):
                raise RuntimeError(f"POST {path}: {answer.status_code} {answer.text[:200]}")
    service = {"X-RUNPLANE-INSTANCE": instance}
    return [
        ("GET script", "GET", f"{scripts}1/", None, {}),
        ("GET traces", "GET", f"{scripts}1/traces/", None, {}),
        ("POST sync endpoint run", "POST",
         f"/v1.1/instances/{instance}/endpoints/scripts/e/run/", {"n": 1}, {}),
        ("POST async run", "POST", f"{scripts}1/run/", {"payload": {"n": 2}}, {}),
        ("GET service door device", "GET", "/rest/instance/device/d1", None, service),
        ("POST batch door progress", "POST",
         f"/api/1.0/batch?action=progress&instance={instance}", {"async": "0" * 32}, {}),
    ]


async def load(server: Server, mix: list[Request], args: argparse.Namespace
               ) -> dict[str, Any]:
    tickets = iter(range(args.requests))
    answers: collections.Counter[str] = collections.Counter()
    resets: list[dict[str, Any]] = []
    chance = random.Random(args.seed)

    async def client() -> None:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60,
                                     headers={"X-API-KEY": server.admin_key}) as http:
            idle_since: float | None = None
            for _ in tickets:
                name, method, path, body, headers = chance.choice(mix)
                idle = None if idle_since is None else time.monotonic() - idle_since
                try:
                    answer = await http.request(method, path, json=body, headers=headers)
                    answers[f"{name} {answer.status_code}"] += 1
                except RESETS as error:
                    resets.append({"request": name, "error": type(error).__name__,
                                   "idle_s": None if idle is None else round(idle, 3)})
                idle_since = time.monotonic()
                if chance.random() < args.pause_share:
                    await asyncio.sleep(chance.uniform(0, args.pause_max))

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(args.clients)))
    return {"requests": args.requests, "seconds": round(time.monotonic() - started, 1),
            "resets": len(resets), "reset_requests": resets, "answers": dict(answers)}


def measure(keep_alive: int, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    server = Server("fork", workdir, env={"RUNPLANE_KEEP_ALIVE_SECONDS": str(keep_alive)})
    try:
        server.start()
        figures = asyncio.run(load(server, prepare(server), args))
    finally:
        server.stop()
    log = server.stderr_path.read_text(errors="replace")
    figures["server_log_connection_lines"] = [
        line for line in log.splitlines() if "runplane.api.connections" in line]
    return figures


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="runplane-keepalive-") as scratch:
        for keep_alive in (int(value) for value in args.keep_alive.split(",")):
            workdir = Path(scratch) / f"keep-alive-{keep_alive}"
            workdir.mkdir()
            row = rows[f"keep_alive_{keep_alive}s"] = measure(keep_alive, workdir, args)
            print(f"keep-alive {keep_alive:>4} s: {row['resets']} reset(s) in "
                  f"{row['requests']} requests of {args.clients} clients "
                  f"({row['seconds']} s); server log lines on closed connections: "
                  f"{len(row['server_log_connection_lines'])}")
            for reset in row["reset_requests"]:
                print(f"    {reset['request']}: {reset['error']} after {reset['idle_s']} s idle")
    plan = {name: getattr(args, name) for name in
            ("clients", "requests", "pause_share", "pause_max", "seed", "smoke")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"plan": plan, "rows": rows, "machine": machine()},
                                   indent=2) + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
