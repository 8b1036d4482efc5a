"""Snippet mode (eNMS-style python snippets): globals in, `results`/logs/variables out.

Through both executors (`harness` is parametrized): the child writes its results document
into the run directory and the executor returns it as ExecutionResult.value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from runplane.engine.execution import ExecutionResult
from runplane.engine.python_child import LOG_MAX_ENTRIES, RESULT_MAX_BYTES
from tests.unit.executor_harness import Harness, harness, no_run_dirs, work_root

__all__ = ["harness", "work_root"]  # fixtures, imported for pytest

DEVICE = {"name": "router-1", "ip_address": "10.0.0.1", "vendor": "Cisco", "port": 22}


def snippet(harness: Harness, source: str, device: dict[str, Any] | None = DEVICE,
            payload: Any = None, **kwargs: Any) -> ExecutionResult:
    context = {"device": device, "payload": {"job": 7} if payload is None else payload}
    return harness.run(source, mode="snippet", context=context, **kwargs)


def test_device_payload_and_results(harness: Harness) -> None:
    source = (
        "results['success'] = True\n"
        "results['result'] = [device.name, device['ip_address'], device.get('missing', 'd'),\n"
        "                     'vendor' in device, payload['job'], ARGS, CONFIG['k']]\n"
    )
    result = snippet(harness, source, args={"a": 1}, config={"k": "v"})
    assert (result.outcome, result.exit_code) == ("success", 0)
    assert result.value["results"] == {
        "success": True,
        "result": ["router-1", "10.0.0.1", "d", True, 7, {"a": 1}, "v"],
    }
    assert result.value["logs"] == []
    assert result.value["variables"] == {}


def test_missing_device_attribute_is_an_attribute_error(harness: Harness) -> None:
    result = snippet(harness, "device.serial_number")
    assert result.outcome == "failure"
    assert "AttributeError: device has no attribute 'serial_number'" in result.stderr


def test_no_device(harness: Harness) -> None:
    result = snippet(harness, "results['result'] = device is None", device=None)
    assert result.value["results"] == {"result": True}


def test_log_lines(harness: Harness) -> None:
    result = snippet(harness, "log('info', 'connecting')\nlog('warning', 42)\nprint('out')")
    assert result.stdout == "out\n"
    logs = result.value["logs"]
    assert [(line["severity"], line["message"]) for line in logs] == [
        ("info", "connecting"), ("warning", "42"),
    ]
    assert all(line["time"].endswith("+00:00") for line in logs)
    assert result.value["logs_dropped"] == 0


def test_log_is_capped(harness: Harness) -> None:
    result = snippet(harness, f"for n in range({LOG_MAX_ENTRIES} + 5):\n    log('info', n)")
    assert len(result.value["logs"]) == LOG_MAX_ENTRIES
    assert result.value["logs_dropped"] == 5
    assert result.value["logs"][-1]["message"] == str(LOG_MAX_ENTRIES - 1)


def test_exit_ends_the_snippet_as_a_success(harness: Harness) -> None:
    source = (
        "results['success'] = True\n"
        "try:\n    exit()\nexcept Exception:\n    results['caught'] = True\n"  # not catchable
        "results['success'] = False\n"
    )
    result = snippet(harness, source)
    assert (result.outcome, result.exit_code) == ("success", 0)
    assert result.value["results"] == {"success": True}


def test_exception_fails_and_still_returns_results_and_logs(harness: Harness) -> None:
    source = "log('info', 'about to fail')\nresults['step'] = 1\nraise RuntimeError('boom')\n"
    result = snippet(harness, source)
    assert (result.outcome, result.exit_code) == ("failure", 1)
    assert result.stderr.rstrip().endswith("RuntimeError: boom")
    assert result.value["results"] == {"step": 1}
    assert result.value["logs"][0]["message"] == "about to fail"


def test_syntax_error_still_returns_a_document(harness: Harness) -> None:
    result = snippet(harness, "def broken(:\n")
    assert (result.outcome, result.exit_code) == ("failure", 1)
    assert result.value == {"results": {}, "logs": [], "logs_dropped": 0, "variables": {}}


def test_results_unset(harness: Harness) -> None:
    result = snippet(harness, "x = 1")
    assert result.outcome == "success"
    assert result.value["results"] == {}


def test_results_may_be_rebound(harness: Harness) -> None:
    result = snippet(harness, "results = {'success': True, 'result': 'replaced'}")
    assert result.value["results"] == {"success": True, "result": "replaced"}


def test_variables(harness: Harness) -> None:
    source = (
        "set_var('count', 2)\n"
        "set_var('count', get_var('count') + 1)\n"
        "results['missing'] = get_var('nope', 'default')\n"
    )
    result = snippet(harness, source)
    assert result.value["variables"] == {"count": 3}
    assert result.value["results"] == {"missing": "default"}


def test_unserializable_values_become_their_repr(harness: Harness) -> None:
    source = "class Thing:\n    def __repr__(self):\n        return '<thing>'\n" \
             "results['result'] = {'set': {1}, 'thing': Thing()}\n"
    result = snippet(harness, source)
    assert result.value["results"] == {"result": {"set": "{1}", "thing": "<thing>"}}


def test_unencodable_keys_are_reported_not_crashed(harness: Harness) -> None:
    result = snippet(harness, "log('info', 'kept')\nresults[(1, 2)] = 'tuple key'")
    assert result.outcome == "success"
    assert result.value["results"]["success"] is False
    assert "not serializable" in result.value["results"]["result"]
    assert result.value["logs"][0]["message"] == "kept"


def test_too_large_results_are_replaced(harness: Harness) -> None:
    result = snippet(harness, f"results['result'] = 'x' * {RESULT_MAX_BYTES}")
    assert result.outcome == "success"
    assert result.value["results"]["success"] is False
    assert result.value["results"]["result"].startswith("result too large (")


def test_nan_survives_as_text(harness: Harness) -> None:
    result = snippet(harness, "results['result'] = [float('nan'), float('inf')]")
    assert result.value["results"] == {"result": ["NaN", "Infinity"]}


def test_killed_or_timed_out_snippet_has_no_value(harness: Harness) -> None:
    assert snippet(harness, "import os\nresults['a'] = 1\nos._exit(0)").value is None
    result = snippet(harness, "results['a'] = 1\nwhile True:\n    pass", timeout_seconds=0.3)
    assert result.outcome == "timeout"
    assert result.value is None


def test_script_mode_has_no_value(harness: Harness) -> None:
    source = "open(os.environ['RUNPLANE_RUN_DIR'] + '/.runplane-result.json', 'w').write('{}')"
    result = harness.run("import os\n" + source)
    assert result.outcome == "success"
    assert result.value is None


def test_planted_symlink_is_not_followed(harness: Harness, tmp_path: Path,
                                         work_root: Path) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text('{"results": {"stolen": true}}')
    source = (
        "import atexit, os\n"
        # After the child wrote its document: replace it by a link to a file outside.
        f"atexit.register(lambda: (os.remove('.runplane-result.json'),"
        f" os.symlink({str(secret)!r}, '.runplane-result.json')))\n"
    )
    result = snippet(harness, source)
    assert result.outcome == "success"
    assert result.value is None
    assert os.path.exists(secret)
    assert no_run_dirs(work_root)
