"""The peer: Celery 5 with the local Redis as broker and result backend, same trivial function.

The worker process imports this module (`celery -A bench.celery_peer worker`); the bench calls
`measure()`. Every key and the queue carry one unique prefix, removed at the end of each round.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import redis
from celery import Celery

from bench import procinfo
from bench.measure import Throughput, sequential_latency
from bench.server import Unavailable

REDIS_URL = "redis://127.0.0.1:6379/0"
PREFIX_ENV = "BENCH_CELERY_PREFIX"
ROOT = Path(__file__).resolve().parents[1]

app = Celery("runplane_bench", broker=REDIS_URL, backend=REDIS_URL)
# One per bench process, for every round: once the app has been used, Celery keeps the
# transport options (the key prefix) it first saw, so a new prefix would not reach the
# client's pings and tasks. Each round's keys are deleted at its end.
BENCH_PREFIX = f"runplane-bench-{uuid.uuid4().hex[:10]}"


def configure(prefix: str) -> None:
    """Route to the queue `prefix` and prefix every Redis key with `prefix:`."""
    keys = {"global_keyprefix": f"{prefix}:"}
    app.conf.update(
        task_default_queue=prefix,
        broker_transport_options=keys,
        result_backend_transport_options=keys,
        result_expires=3600,
        broker_connection_retry_on_startup=True,
    )


configure(os.environ.get(PREFIX_ENV, "runplane-bench"))


@app.task(name="bench.trivial")
def trivial(n: int) -> str:
    """What the runplane script `print(ARGS.get("n"))` does, as a Celery task."""
    return str(n)


class Worker:
    def __init__(self, prefix: str, workdir: Path) -> None:
        self.prefix = prefix
        self.node = f"{prefix}@{socket.gethostname()}"
        self.log_path = workdir / "celery.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        env = {**os.environ, PREFIX_ENV: self.prefix,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                           os.environ.get("PYTHONPATH")]))}
        command = [sys.executable, "-m", "celery", "-A", "bench.celery_peer", "worker",
                   "--concurrency", "2", "--pool", "prefork", "-Q", self.prefix,
                   "--loglevel", "warning", "-n", self.node]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise Unavailable(f"celery worker exited with {self.process.returncode}: "
                                  f"{self.log_path.read_text(errors='replace')[-500:]}")
            if app.control.ping(destination=[self.node], timeout=0.5):
                return
        raise RuntimeError(f"celery worker did not answer a ping within {timeout:.0f} s")

    def memory(self) -> dict[str, float]:
        assert self.process is not None
        return procinfo.memory(self.process.pid)

    def stop(self) -> None:
        """SIGTERM (warm shutdown), SIGKILL after 30 s, then anything left in its group."""
        if self.process is not None:
            procinfo.stop_group(self.process)


def delete_keys(client: redis.Redis, prefix: str) -> int:
    names = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for start in range(0, len(names), 500):
        client.delete(*names[start:start + 500])
    return len(names)


def call(index: int) -> str | None:
    value = trivial.delay(index).get(timeout=30)
    return None if value == str(index) else f"answered {value!r}"


def throughput(runs: int) -> Throughput:
    """Submit `runs` tasks as fast as one client can, then wait for every result."""
    deadline = time.monotonic() + 60 + runs / 2
    start = time.perf_counter()
    results = [trivial.delay(index) for index in range(runs)]
    submitted = time.perf_counter()
    failures = 0
    for index, result in enumerate(results):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"celery: results not all in within the time limit ({index})")
        failures += result.get(timeout=remaining) != str(index)
    finished = time.perf_counter()
    return Throughput(runs=runs, failures=failures, seconds=round(finished - start, 3),
                      submit_seconds=round(submitted - start, 3))


def measure(workdir: Path, warmup: int, sync_calls: int, async_runs: int) -> dict[str, Any]:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=2)
    try:
        redis_version = client.info("server")["redis_version"]
    except redis.RedisError as error:
        raise Unavailable(f"no Redis at {REDIS_URL}: {error}") from error
    prefix = BENCH_PREFIX
    configure(prefix)
    worker = Worker(prefix, workdir)
    try:
        worker.start()
        sequential_latency(call, warmup, 60 + warmup / 2)
        sync = sequential_latency(call, sync_calls, 60 + sync_calls / 2)
        async_ = throughput(async_runs)
        memory = worker.memory()
    finally:
        worker.stop()
        app.close()  # its pooled Redis connections
        removed = delete_keys(client, prefix)
        client.close()
    return {
        "available": True,
        "redis_version": redis_version,
        "queue": prefix,
        "keys_removed": removed,
        "sync": sync.as_dict(),
        "async": async_.as_dict(),
        "memory": {"end": memory},
        "peak_rss_mb": memory["peak_rss_mb"],
    }
