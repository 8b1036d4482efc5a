"""Crash safety: a server killed with SIGKILL loses no run; two workers never share a task."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx

from tests.support.scratch import scratch_dir, scratch_env
from tests.support.server import RUNPLANE, ServerProcess

SHORT_LEASE = {"RUNPLANE_LEASE_SECONDS": "2", "RUNPLANE_WORKERS": "4"}
FINAL = {"success", "failure", "timeout"}
INSTANCE = "crash"


def setup_script(client: httpx.Client, source: str) -> int:
    assert client.post("/v1.1/instances/", json={"name": INSTANCE}).status_code == 201
    made = client.post(f"/v1.1/instances/{INSTANCE}/snippets/scripts/", json={
        "label": "work", "runtime_name": "python3", "source": source,
    })
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def trace(client: httpx.Client, script: int, number: int) -> dict[str, object]:
    answer = client.get(f"/v1.1/instances/{INSTANCE}/snippets/scripts/{script}/traces/{number}/")
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def statuses(client: httpx.Client, script: int, count: int) -> dict[int, str]:
    return {n: str(trace(client, script, n)["status"]) for n in range(1, count + 1)}


def wait_all_final(client: httpx.Client, script: int, count: int, timeout: float
                   ) -> dict[int, str]:
    deadline = time.monotonic() + timeout
    while True:
        seen = statuses(client, script, count)
        if set(seen.values()) <= FINAL or time.monotonic() > deadline:
            return seen
        time.sleep(0.2)


def test_sigkill_with_runs_queued_and_running_loses_none(
    database_url: str, tmp_path: Path
) -> None:
    server = ServerProcess(database_url, tmp_path, env=SHORT_LEASE).start()
    try:
        client = server.client()
        # 1 s each on 4 slots: when the kill comes a few are running and most are queued.
        script = setup_script(client, "import time\ntime.sleep(1)\nprint('done', ARGS['i'])")
        for index in range(50):
            client.post(
                f"/v1.1/instances/{INSTANCE}/snippets/scripts/{script}/run/",
                json={"payload": {"i": index}},
            ).raise_for_status()
        time.sleep(0.3)
        before = statuses(client, script, 50)
        assert "processing" in before.values()
        assert any(status not in FINAL for status in before.values())
    finally:
        server.kill()

    restarted = ServerProcess(database_url, tmp_path, env=SHORT_LEASE, port=server.port).start()
    try:
        client = restarted.client(server.admin_key)
        after = wait_all_final(client, script, 50, timeout=90)
        assert set(after.values()) == {"success"}, after
        outputs = {str(trace(client, script, n)["result"]["stdout"])  # type: ignore[index]
                   for n in range(1, 51)}
        assert outputs == {f"done {index}" for index in range(50)}
    finally:
        restarted.stop()


def test_two_worker_processes_never_run_the_same_task(
    database_url: str, tmp_path: Path
) -> None:
    """An API-only server and two `runplane worker` processes share one database."""
    marks = scratch_dir()
    # O_EXCL: a task executed twice fails its second execution.
    source = (
        "import os\n"
        "fd = os.open(os.path.join(ARGS['dir'], str(ARGS['i'])), "
        "os.O_CREAT | os.O_EXCL | os.O_WRONLY)\n"
        "os.write(fd, META['instance'].encode())\n"
        "os.close(fd)\n"
    )
    api = ServerProcess(database_url, tmp_path, env={"RUNPLANE_WORKERS": "0"}).start()
    workers: list[subprocess.Popen[bytes]] = []
    try:
        client = api.client()
        script = setup_script(client, source)
        for index in range(60):
            client.post(
                f"/v1.1/instances/{INSTANCE}/snippets/scripts/{script}/run/",
                json={"payload": {"i": index, "dir": str(marks)}},
            ).raise_for_status()
        for _ in range(2):
            workers.append(subprocess.Popen(
                [RUNPLANE, "worker", "--database", database_url, "--workers", "3"],
                cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env={**os.environ, **scratch_env()},
            ))
        seen = wait_all_final(client, script, 60, timeout=90)
        assert set(seen.values()) == {"success"}, seen
        assert sorted(int(path.name) for path in marks.iterdir()) == list(range(60))
    finally:
        for process in workers:
            process.terminate()
            process.wait(30)
        api.stop()
    assert all(process.returncode == 0 for process in workers)
