"""Snippet batches: one python snippet over several targets in turn, in one process.

Through both executors (`harness` is parametrized). Each target has its own namespace,
`results`, logs, output and timeout; what the process leaves says which targets finished,
which one was running when it died, and which never began (engine/service_batch.py maps
that to task results, tested at the end).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from runplane.engine.execution import BatchOutcome, ExecutionResult
from runplane.engine.service_batch import DIED_RUNNING, target_results
from runplane.engine.service_performer import RESULT_NOT_SET
from tests.unit.executor_harness import Harness, harness, no_run_dirs, work_root

__all__ = ["harness", "work_root"]  # fixtures, imported for pytest

SNIPPET = """
name = device.name
if name == "boom":
    raise ValueError("bad device " + name)
if name == "slow":
    import time
    time.sleep(30)
if name == "exit":
    import os
    os._exit(3)
if name == "stuck":  # where no signal handler can run: only the watchdog ends it
    import signal, time
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    time.sleep(30)
print("hello", name, payload["x"], META["target"], ARGS["x"])
log("info", "did " + name)
results["success"] = True
results["result"] = name.upper()
seen = globals().setdefault("seen", [])
seen.append(name)
results["seen"] = list(seen)
"""


def batch(harness: Harness, names: list[str], source: str = SNIPPET, **limits: Any
          ) -> ExecutionResult:
    targets = [{"device": {"name": name}, "meta": {"target": name, "attempt": 1}}
               for name in names]
    return harness.run(source, mode="snippet_batch", args={"x": 1},
                       context={"payload": {"x": 1}, "targets": targets}, **limits)


def outcome_of(result: ExecutionResult) -> BatchOutcome:
    assert isinstance(result.value, BatchOutcome), result
    return result.value


def test_each_target_has_its_own_results_output_and_namespace(harness: Harness) -> None:
    result = batch(harness, ["a", "b", "c"])
    assert (result.outcome, result.exit_code) == ("success", 0)
    outcome = outcome_of(result)
    assert outcome.begun == 3 and [line["index"] for line in outcome.finished] == [0, 1, 2]
    for line, name in zip(outcome.finished, "abc", strict=True):
        assert line["status"] == "success" and line["exit_code"] == 0
        assert line["results"] == {"success": True, "result": name.upper(), "seen": [name]}
        assert line["stdout"] == f"hello {name} 1 {name} 1\n" and line["stderr"] == ""
        assert [entry["message"] for entry in line["logs"]] == [f"did {name}"]
        assert isinstance(line["duration_ms"], int) and line["duration_ms"] >= 0


def test_a_failing_target_fails_alone(harness: Harness) -> None:
    outcome = outcome_of(batch(harness, ["a", "boom", "b"]))
    statuses = [line["status"] for line in outcome.finished]
    assert statuses == ["success", "failure", "success"]
    failed = outcome.finished[1]
    assert failed["exit_code"] == 1 and failed["results"] == {}
    assert "ValueError: bad device boom" in failed["stderr"]
    assert 'raise ValueError("bad device " + name)' in failed["stderr"]  # the script's line


def test_a_target_past_its_timeout_times_out_and_the_next_goes_on(harness: Harness) -> None:
    started = time.monotonic()
    result = batch(harness, ["slow", "a"], timeout_seconds=0.5)
    assert time.monotonic() - started < 10
    outcome = outcome_of(result)
    slow, after = outcome.finished
    assert slow["status"] == "timeout" and slow["error"] == "Timed out after 0.5 s"
    assert slow["exit_code"] is None and "Traceback" not in slow["stderr"]
    assert after["status"] == "success" and after["results"]["result"] == "A"


def test_a_process_that_exits_leaves_what_it_finished(harness: Harness) -> None:
    result = batch(harness, ["a", "exit", "b", "c"])
    assert (result.outcome, result.exit_code) == ("failure", 3)
    outcome = outcome_of(result)
    assert [line["status"] for line in outcome.finished] == ["success"]
    assert outcome.begun == 2  # "exit" was running; "b" and "c" never began


def test_the_watchdog_ends_a_target_no_signal_reaches(harness: Harness) -> None:
    started = time.monotonic()
    result = batch(harness, ["a", "stuck", "b"], timeout_seconds=0.5)
    assert time.monotonic() - started < 10  # the timeout and its grace, not 30 s
    assert result.outcome == "timeout"
    outcome = outcome_of(result)
    assert len(outcome.finished) == 1 and outcome.begun == 2


def test_a_syntax_error_fails_every_target_alike(harness: Harness) -> None:
    outcome = outcome_of(batch(harness, ["a", "b"], source="results['success'] = (\n"))
    assert [line["status"] for line in outcome.finished] == ["failure", "failure"]
    assert all("SyntaxError" in line["stderr"] for line in outcome.finished)


def test_output_is_capped_per_target(harness: Harness) -> None:
    source = "print('x' * 10_000)\nresults['success'] = True\n"
    outcome = outcome_of(batch(harness, ["a", "b"], source=source, output_bytes=1_000))
    for line in outcome.finished:
        assert line["truncated"] is True and len(line["stdout"]) == 1_000


def test_the_run_directory_is_removed(harness: Harness, work_root: Any) -> None:
    batch(harness, ["a", "exit", "b"])
    assert no_run_dirs(work_root)


# What the worker records: engine/service_batch.target_results ------------------------------

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def executed(outcome: str, exit_code: int | None, value: BatchOutcome | None,
             error: str | None = None) -> ExecutionResult:
    return ExecutionResult(
        outcome=outcome,  # type: ignore[arg-type]
        exit_code=exit_code, stdout="", stderr="process stderr", truncated=False,
        started_at=NOW, finished_at=NOW, duration_ms=40, error=error, value=value,
    )


def line(index: int, status: str = "success", results: Any = None,
         duration_ms: int = 10) -> dict[str, Any]:
    return {
        "index": index, "status": status, "exit_code": 0 if status == "success" else 1,
        "stdout": f"out {index}", "stderr": "", "truncated": False, "error": None,
        "duration_ms": duration_ms, "logs": [],
        "results": {"success": True} if results is None else results,
    }


def test_finished_targets_become_results_in_order() -> None:
    value = BatchOutcome(finished=[line(0), line(1, results={}), line(2, "failure")],
                         begun=3)
    results = target_results(executed("success", 0, value), value, 3)
    assert [result.status if result else None for result in results] == [
        "success", "failure", "failure"]
    assert results[1] is not None and results[1].error == RESULT_NOT_SET
    assert results[0] is not None and results[0].stdout == "out 0"
    # Each target's time follows the one before it.
    assert results[1] is not None and results[1].started_at == results[0].finished_at


def test_the_running_target_fails_and_the_others_go_back() -> None:
    value = BatchOutcome(finished=[line(0)], begun=2)
    results = target_results(executed("failure", 3, value), value, 4)
    assert results[0] is not None and results[0].status == "success"
    assert results[1] is not None and results[1].status == "failure"
    assert results[1].error == DIED_RUNNING and results[1].stderr == "process stderr"
    assert results[2:] == [None, None]


def test_a_watchdog_timeout_times_the_running_target_out() -> None:
    value = BatchOutcome(finished=[], begun=1)
    results = target_results(executed("timeout", None, value, "Script timed out after 1 s."),
                             value, 2)
    assert results[0] is not None and results[0].status == "timeout"
    assert results[0].error == "Script timed out after 1 s." and results[1] is None


def test_a_process_that_began_nothing_fails_every_target() -> None:
    """It would fail the same way again: giving them back would loop for ever."""
    results = target_results(
        executed("failure", None, None, "Could not start the fork server: no python"), None, 3
    )
    assert all(result is not None and result.status == "failure" for result in results)
    assert all(result is not None and "fork server" in (result.error or "")
               for result in results)
