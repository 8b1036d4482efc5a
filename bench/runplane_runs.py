"""One runplane server under measure: sync latency through a script endpoint, async
throughput through the run URL, and the server's memory along the way."""

from __future__ import annotations

import asyncio
import http.client
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx

from bench.measure import Throughput, percentile, sequential_latency
from bench.server import Server

INSTANCE = "bench"
SOURCE = 'print(ARGS.get("n"))'
FINAL = {"success", "failure", "timeout"}
PAGE = 100  # the largest page of the traces list
POLL_INTERVAL = 0.05  # between two looks at the traces list while runs are going


@dataclass(frozen=True)
class Plan:
    warmup: int
    sync_calls: int
    async_runs: int
    concurrency: int
    runs_for_memory: int  # 0: no memory check
    batch: int = 1000  # runs submitted at once on the way to runs_for_memory


@dataclass
class Door:
    """The objects made on the server, and where to call them."""

    base_url: str
    headers: dict[str, str]
    endpoint_path: str
    run_path: str
    traces_path: str
    traces: int = 0  # traces of the async script so far: the next batch numbers on from here


def time_limit(runs: int) -> float:
    """How long `runs` runs may take before the bench gives up (2 runs/s, a loaded machine)."""
    return 60 + runs / 2


def set_up(client: httpx.Client, server: Server) -> Door:
    def create(path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = client.post(path, json=body)
        if answer.status_code != 201:
            raise RuntimeError(f"POST {path}: {answer.status_code} {answer.text[:300]}")
        return answer.json()  # type: ignore[no-any-return]

    base = f"/v1.1/instances/{INSTANCE}/"
    create("/v1.1/instances/", {"name": INSTANCE})
    scripts = f"{base}snippets/scripts/"
    script = {"runtime_name": "python3", "source": SOURCE}
    sync_id = create(scripts, {**script, "label": "sync"})["id"]
    async_id = create(scripts, {**script, "label": "async"})["id"]
    create(f"{base}endpoints/scripts/", {"name": "trivial", "script": sync_id})
    return Door(
        base_url=server.base_url, headers={"X-API-KEY": server.admin_key},
        endpoint_path=f"{base}endpoints/scripts/trivial/run/",
        run_path=f"{scripts}{async_id}/run/", traces_path=f"{scripts}{async_id}/traces/",
    )


@dataclass
class Split:
    """Where the time of each sync call went, in ms, from the server's own timestamps."""

    to_start: list[float] = field(default_factory=list)  # request sent -> script started
    run: list[float] = field(default_factory=list)  # the trace's duration
    to_answer: list[float] = field(default_factory=list)  # script ended -> answer read

    def clear(self) -> None:
        for values in (self.to_start, self.run, self.to_answer):
            values.clear()

    def p50s(self) -> dict[str, float]:
        return {name: round(percentile(sorted(values), 50), 2) for name, values in
                (("to_start", self.to_start), ("run", self.run), ("to_answer", self.to_answer))}


class KeepAlive:
    """The sync client: one keep-alive connection of the standard library's http.client.

    A sequential client's own CPU is in every latency it measures: httpx.Client took 0.75-0.83
    ms of CPU per call here, http.client 0.22-0.38 ms. (It reconnects by itself when the
    server has closed the connection; a call that fails that way counts as an error.)
    """

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        address = urlsplit(base_url)
        self.connection = http.client.HTTPConnection(address.hostname or "127.0.0.1",
                                                     address.port, timeout=60)
        self.headers = {**headers, "Content-Type": "application/json"}

    def post(self, path: str, body: Any) -> tuple[int, bytes]:
        self.connection.request("POST", path, body=json.dumps(body).encode(),
                                headers=self.headers)
        answer = self.connection.getresponse()
        return answer.status, answer.read()

    def close(self) -> None:
        self.connection.close()


def sync_call(client: KeepAlive, door: Door, split: Split) -> Callable[[int], str | None]:
    """One synchronous run through the script endpoint: None if it answered right, else why."""

    def call(index: int) -> str | None:
        sent = time.time()
        status, data = client.post(door.endpoint_path, {"n": index})
        answered = time.time()
        if status != 200:
            return f"HTTP {status}: {data[:300].decode(errors='replace')}"
        body = json.loads(data)
        if body.get("status") != "success" or body["result"].get("stdout") != str(index):
            return f"{body.get('status')}: {body.get('result')}"
        started = datetime.fromisoformat(body["executed_at"]).timestamp()
        duration = float(body.get("duration") or 0)
        split.to_start.append((started - sent) * 1000)
        split.run.append(duration)
        split.to_answer.append((answered - started) * 1000 - duration)
        return None

    return call


async def wait_final(client: aiohttp.ClientSession, door: Door, first: int, last: int,
                     deadline: float) -> tuple[float, int, str | None]:
    """Wait until traces first..last are all final: watch the last one, then walk the traces
    list (oldest first) from the first not yet seen final.

    Watching one trace keeps the load of looking off the server under measure (a page of
    100 traces every 50 ms cost it more than the runs' own reads). Answers when all were seen
    final (perf_counter), how many did not succeed and the first of those.
    """
    frontier = first - 1  # every trace up to here is final
    failures = 0
    first_failure: str | None = None

    async def get(path: str, params: dict[str, Any] | None = None) -> Any:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{last - frontier} of {last - first + 1} runs still not final")
        async with client.get(path, params=params) as answer:
            if answer.status == 404 and params is None:
                return {"status": "not submitted yet"}
            answer.raise_for_status()
            return await answer.json()

    while (await get(f"{door.traces_path}{last}/"))["status"] not in FINAL:
        await asyncio.sleep(POLL_INTERVAL)
    while frontier < last:
        objects = (await get(door.traces_path, {
            "ordering": "asc", "page_size": PAGE, "last_pk": frontier}))["objects"]
        for trace in objects:
            if trace["id"] != frontier + 1 or trace["status"] not in FINAL or frontier >= last:
                break
            frontier += 1
            if trace["status"] != "success":
                failures += 1
                first_failure = first_failure or f"trace {trace['id']}: {trace}"
        else:
            if len(objects) == PAGE:
                continue  # the whole page was final: read the next one at once
        await asyncio.sleep(POLL_INTERVAL)
    return time.perf_counter(), failures, first_failure


def session(door: Door, connections: int) -> aiohttp.ClientSession:
    """The load generator's client: aiohttp, whose client costs about a third of httpx's CPU
    per request, CPU that the two cores would otherwise take from the server under measure."""
    return aiohttp.ClientSession(
        base_url=door.base_url, headers=door.headers,
        timeout=aiohttp.ClientTimeout(total=60),
        connector=aiohttp.TCPConnector(limit=connections))


async def submit_and_wait(door: Door, runs: int, concurrency: int) -> Throughput:
    """Submit `runs` runs from `concurrency` connections at once, and wait until all are final."""
    first, last = door.traces + 1, door.traces + runs
    deadline = time.monotonic() + time_limit(runs)
    numbers: list[int] = []
    indexes = iter(range(runs))  # shared by the submitters: each takes the next index

    async with (
        session(door, concurrency) as client,
        session(door, 1) as poller,
    ):
        async def submitter() -> None:
            for index in indexes:
                async with client.post(door.run_path, json={"payload": {"n": index}}) as answer:
                    if answer.status != 200:
                        raise RuntimeError(f"run: HTTP {answer.status}: {await answer.text()}")
                    numbers.append(int((await answer.json())["id"]))

        start = time.perf_counter()
        watching = asyncio.create_task(wait_final(poller, door, first, last, deadline))
        try:
            await asyncio.gather(*(submitter() for _ in range(concurrency)))
            submitted = time.perf_counter()
            finished, failures, first_failure = await watching
        finally:
            watching.cancel()
    if sorted(numbers) != list(range(first, last + 1)):
        raise RuntimeError(f"expected traces {first}..{last}, got others")
    door.traces = last
    return Throughput(runs=runs, failures=failures, seconds=round(finished - start, 3),
                      submit_seconds=round(submitted - start, 3), first_failure=first_failure)


def measure(server: Server, plan: Plan, say: Callable[[str], None]) -> dict[str, Any]:
    """Everything measured on one started server, as a JSON-ready dict; `say` tells progress."""
    with httpx.Client(base_url=server.base_url, headers={"X-API-KEY": server.admin_key},
                      timeout=60) as client:
        door = set_up(client, server)
    sync_client = KeepAlive(door.base_url, door.headers)
    try:
        split = Split()
        call = sync_call(sync_client, door, split)
        say(f"warm-up: {plan.warmup} calls")
        warmup = sequential_latency(call, plan.warmup, time_limit(plan.warmup))
        after_warmup = server.memory()
        split.clear()
        say(f"sync latency: {plan.sync_calls} sequential calls")
        sync = sequential_latency(call, plan.sync_calls, time_limit(plan.sync_calls))
    finally:
        sync_client.close()

    say(f"async throughput: {plan.async_runs} runs, {plan.concurrency} connections")
    async_ = asyncio.run(submit_and_wait(door, plan.async_runs, plan.concurrency))
    runs = plan.warmup + plan.sync_calls + plan.async_runs
    samples = [{"runs": runs, **server.memory()}]
    memory_failures = 0
    first_failure: str | None = None
    memory_error: str | None = None  # the figures above stand even if this part fails
    while runs < plan.runs_for_memory and memory_error is None:
        batch = min(plan.batch, plan.runs_for_memory - runs)
        try:
            done = asyncio.run(submit_and_wait(door, batch, plan.concurrency))
        except Exception as error:
            memory_error = f"after {runs:,} runs: {error!r}"
            say(f"[red]memory check stopped[/] {memory_error}")
            break
        memory_failures += done.failures
        first_failure = first_failure or done.first_failure
        runs += batch
        samples.append({"runs": runs, **server.memory()})
        say(f"memory: {runs:,} runs, server RSS {samples[-1]['rss_mb']} MB")

    return {
        "available": True,
        "warmup": {"calls": warmup.calls, "errors": warmup.errors},
        "sync": {**sync.as_dict(), "split_p50_ms": split.p50s()},
        "async": {**async_.as_dict(), "concurrency": plan.concurrency},
        "memory": {
            "after_warmup": after_warmup,
            "end": samples[-1],
            "runs": runs,
            "failures_of_extra_runs": memory_failures,
            "first_failure_of_extra_runs": first_failure,
            "error": memory_error,
            "samples": samples,
        },
        "peak_rss_mb": server.memory()["peak_rss_mb"],
        "error": memory_error is not None,
    }
