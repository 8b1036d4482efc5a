"""Pure parts of running services: runtimes, durations, per-target results."""

from __future__ import annotations

from datetime import UTC, datetime

from runplane.api.dialects.enms import (
    RESULT_NOT_SET,
    duration_text,
    status_name,
    target_result,
)
from runplane.core.service_runs import new_runtime
from runplane.model import TargetOutcome


def outcome(**overrides: object) -> TargetOutcome:
    values: dict[str, object] = {
        "position": 0, "target": "Washington", "status": "success", "result": None,
        "exit_code": 0, "stdout": "", "stderr": "", "error": None, "duration_ms": 12,
    }
    values.update(overrides)
    return TargetOutcome(**values)  # type: ignore[arg-type]


def test_runtime_has_enms_format_and_bumps_apart() -> None:
    now = datetime(2020, 4, 28, 12, 21, 11, 404910, tzinfo=UTC)
    assert new_runtime(now) == "2020-04-28 12:21:11.404910"
    assert new_runtime(now, 1) == "2020-04-28 12:21:11.404911"


def test_duration_and_status_words() -> None:
    assert duration_text(1500) == "0:00:01"
    assert duration_text(3_723_000) == "1:02:03"
    assert duration_text(None) == "0:00:00"
    assert status_name("processing") == "Running"
    assert status_name("pending") == "Running"
    assert status_name("failure") == "Completed"
    assert status_name("aborted") == "Aborted"


def test_snippet_results_are_shown_with_success_forced_to_the_task_status() -> None:
    shown = target_result(outcome(result={"results": {"success": True, "result": {"v": 1}}}))
    assert shown["success"] is True and shown["result"] == {"v": 1}
    failed = target_result(outcome(status="failure", exit_code=1, error="boom",
                                   result={"results": {"success": True}}))
    assert failed["success"] is False and failed["error"] == "boom"


def test_unset_results_say_so() -> None:
    shown = target_result(outcome(status="failure", result={"results": {}}))
    assert shown["success"] is False
    assert shown["result"] == {"error": RESULT_NOT_SET}


def test_command_results_show_stdout() -> None:
    shown = target_result(outcome(stdout="up\n", result=None))
    assert shown == {"success": True, "result": "up", "exit_code": 0, "duration_ms": 12,
                     "device_target": "Washington", "duration": "0:00:00", "runtime": None}


def test_a_raised_exception_is_enms_step_error_result_and_traceback() -> None:
    traceback = ("printed first\nTraceback (most recent call last):\n"
                 '  File "<snippet>", line 2, in <module>\n    raise KeyError("a")\n'
                 "KeyError: 'a'\n")
    shown = target_result(outcome(status="failure", exit_code=1, stderr=traceback,
                                  result={"results": {"result": "partial"}}))
    assert shown["result"] == {"step": "execute", "error": "'a'",
                               "result": {"result": "partial"}, "traceback": traceback}
    assert (shown["success"], shown["exit_code"], shown["stderr"]) == (False, 1, traceback)
    # A failure without a traceback (sys.exit) keeps the snippet's own results.
    exited = target_result(outcome(status="failure", exit_code=3, stderr="bye\n",
                                   result={"results": {"result": "partial"}}))
    assert exited["result"] == "partial"
