"""Scripts that misbehave: endless loops, floods of output, crashes, memory hogs, signal
ignorers. Each ends in a clear trace status and the server keeps serving."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.polling import wait_for_trace, wait_until
from tests.support.script_door import (
    create_instance,
    create_script,
    run_and_wait,
    script_path,
    start_run,
)
from tests.support.server import ServerProcess

OUTPUT_LIMIT = 512 * 1024
# Room for runplane's "[runplane: output truncated at N bytes]" note after the output.
MARKER_ROOM = 200


@pytest.fixture
def client(shared_server: ServerProcess) -> Iterator[httpx.Client]:
    with shared_server.client() as http:
        yield http


@pytest.fixture
def instance(client: httpx.Client) -> str:
    return create_instance(client)


def test_endless_loop_times_out(client: httpx.Client, instance: str) -> None:
    script_id = create_script(client, instance, "while True:\n    pass", config={"timeout": 1})
    trace = run_and_wait(client, instance, script_id, timeout=20)
    assert trace["status"] == "timeout", trace
    assert 1000 <= trace["duration"] < 10_000
    assert "timed out" in trace["result"]["stderr"]


def test_server_stays_responsive_while_scripts_spin(
    shared_server: ServerProcess, client: httpx.Client, instance: str
) -> None:
    # Two busy loops: on a two-core box they would take every core they could get.
    spinner = create_script(client, instance, "while True:\n    pass", config={"timeout": 6})
    quick = create_script(client, instance, "print('still here')")
    spinning = [start_run(client, instance, spinner)["links"]["self"] for _ in range(2)]
    for link in spinning:
        wait_until(
            lambda link=link: client.get(link).json()["status"],
            lambda status: status == "processing", timeout=10, what=f"{link} processing",
        )

    started = time.monotonic()
    health = httpx.get(f"{shared_server.base_url}/healthz", timeout=5)
    assert health.status_code == 200
    assert time.monotonic() - started < 2.0

    started = time.monotonic()
    trace = run_and_wait(client, instance, quick, timeout=10)
    assert trace["status"] == "success"
    assert trace["result"]["stdout"] == "still here"
    assert time.monotonic() - started < 4.0
    # The spinners were still running all along: the quick run did not wait for them.
    assert [client.get(link).json()["status"] for link in spinning] == ["processing"] * 2

    for link in spinning:
        assert wait_for_trace(client, link, timeout=20)["status"] == "timeout"


def test_ten_megabytes_of_output_is_truncated(client: httpx.Client, instance: str) -> None:
    script_id = create_script(
        client, instance,
        "import sys\nsys.stdout.write('x' * (10 * 1024 * 1024))\nprint('the end')",
    )
    trace = run_and_wait(client, instance, script_id, timeout=30)
    assert trace["status"] == "success", trace["status"]
    result = trace["result"]
    assert result["truncated"] is True
    assert len(result["stdout"]) + len(result["stderr"]) <= OUTPUT_LIMIT + MARKER_ROOM
    assert len(result["stdout"]) >= OUTPUT_LIMIT - MARKER_ROOM
    assert set(result["stdout"]) == {"x"}  # the first bytes are kept, the end is cut
    assert "truncated" in result["stderr"]
    # In the list, a result this big is replaced, as Syncano did (the detail shows it all).
    listed = client.get(f"{script_path(instance, script_id)}traces/").json()["objects"]
    assert listed[0]["result"] == {"__error__": "Result is too big to show in trace."}


def test_nonzero_exit_is_failure(client: httpx.Client, instance: str) -> None:
    script_id = create_script(client, instance, "import sys\nprint('before')\nsys.exit(3)")
    trace = run_and_wait(client, instance, script_id)
    assert trace["status"] == "failure", trace
    assert trace["result"]["stdout"] == "before"
    zero = create_script(client, instance, "import sys\nsys.exit(0)")
    assert run_and_wait(client, instance, zero)["status"] == "success"


def test_abort_is_failure_naming_the_signal(client: httpx.Client, instance: str) -> None:
    script_id = create_script(client, instance, "import os\nos.abort()")
    trace = run_and_wait(client, instance, script_id)
    assert trace["status"] == "failure", trace
    assert "SIGABRT" in trace["result"]["stderr"]


def test_unbounded_allocation_fails_and_next_run_succeeds(
    client: httpx.Client, instance: str
) -> None:
    hog = create_script(client, instance, "x = []\nwhile True:\n    x.append(bytearray(10**7))")
    trace = run_and_wait(client, instance, hog, timeout=60)
    assert trace["status"] == "failure", trace
    assert "MemoryError" in trace["result"]["stderr"]
    after = create_script(client, instance, "print(sum(range(10)))")
    assert run_and_wait(client, instance, after)["result"]["stdout"] == "45"
    # The same script again: nothing of the previous run's memory is held against it.
    assert run_and_wait(client, instance, hog, timeout=60)["status"] == "failure"


def test_script_ignoring_sigterm_still_times_out(client: httpx.Client, instance: str) -> None:
    source = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('armored', flush=True)\n"
        "time.sleep(60)\n"
    )
    script_id = create_script(client, instance, source, config={"timeout": 1})
    trace = run_and_wait(client, instance, script_id, timeout=20)
    assert trace["status"] == "timeout", trace
    assert trace["result"]["stdout"] == "armored"  # output before the kill is kept
    assert trace["duration"] < 10_000


def process_gone(pid: int) -> bool:
    """Gone, or a zombie waiting for a reaper (it runs nothing any more)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_timeout_kills_what_the_script_started(client: httpx.Client, instance: str) -> None:
    source = (
        "import subprocess, time\n"
        "child = subprocess.Popen(['sleep', '120'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    script_id = create_script(client, instance, source, config={"timeout": 1})
    trace = run_and_wait(client, instance, script_id, timeout=20)
    assert trace["status"] == "timeout", trace
    pid = int(trace["result"]["stdout"])
    wait_until(lambda: process_gone(pid), bool, timeout=5, what=f"process {pid} gone")


def test_traceback_is_in_stderr(client: httpx.Client, instance: str) -> None:
    source = "print('about to fail')\n\ndef explode():\n    raise ValueError('boom')\n\nexplode()\n"
    script_id = create_script(client, instance, source)
    trace = run_and_wait(client, instance, script_id)
    assert trace["status"] == "failure", trace
    stderr = trace["result"]["stderr"]
    assert stderr.startswith("Traceback (most recent call last):")
    assert stderr.endswith("ValueError: boom")
    assert "line 4, in explode" in stderr
    assert "raise ValueError('boom')" in stderr  # the script's own line is shown
    assert "python_child" not in stderr  # runplane's frames are not
    assert trace["result"]["stdout"] == "about to fail"


def test_syntax_error_is_failure(client: httpx.Client, instance: str) -> None:
    script_id = create_script(client, instance, "def broken(:\n    pass")
    trace = run_and_wait(client, instance, script_id)
    assert trace["status"] == "failure"
    assert "SyntaxError" in trace["result"]["stderr"]


def test_shell_script_failures(client: httpx.Client, instance: str) -> None:
    failing = create_script(
        client, instance, "echo out\necho err >&2\nexit 7", runtime_name="shell"
    )
    trace = run_and_wait(client, instance, failing)
    assert trace["status"] == "failure"
    assert trace["result"] == {"stdout": "out", "stderr": "err"}
    sleeper = create_script(client, instance, "sleep 60", runtime_name="shell",
                            config={"timeout": 1})
    assert run_and_wait(client, instance, sleeper, timeout=20)["status"] == "timeout"


def test_shell_script_that_never_reads_stdin(client: httpx.Client, instance: str) -> None:
    """The payload is offered on stdin; a script that exits without reading it is fine.

    Several at once, because the child may be gone before its stdin is written.
    """
    script_id = create_script(client, instance, "echo hi", runtime_name="shell")
    links = [start_run(client, instance, script_id)["links"]["self"] for _ in range(8)]
    traces = [wait_for_trace(client, link) for link in links]
    assert [(t["status"], t["result"]) for t in traces] == [
        ("success", {"stdout": "hi", "stderr": ""})
    ] * 8
