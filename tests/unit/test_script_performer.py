"""How a claimed script task becomes an execution request."""

from __future__ import annotations

from runplane.engine.script_performer import execution_request, script_timeout
from runplane.model import ClaimedTask, ScriptSpec
from runplane.settings import Settings

SETTINGS = Settings(database="sqlite:///unused.db")


def test_timeout_from_config_is_capped_and_validated() -> None:
    assert script_timeout({}, 30, 300) == 30
    assert script_timeout({"timeout": 5}, 30, 300) == 5
    assert script_timeout({"timeout": 999}, 30, 300) == 300
    assert script_timeout({"timeout": -1}, 30, 300) == 30
    assert script_timeout({"timeout": "5"}, 30, 300) == 30
    assert script_timeout({"timeout": True}, 30, 300) == 30


def test_config_is_instance_config_under_script_config_without_control_keys() -> None:
    task = ClaimedTask(
        task_id=1, run_id=2, kind="script", attempt=1, instance_id=3, instance_name="i",
        instance_config={"a": 1, "b": 1, "allow_full_access": True},
        payload={"x": 1}, meta={"executed_by": "codebox"},
        script=ScriptSpec(runtime_name="python3", source="pass",
                          config={"b": 2, "timeout": 7}),
    )
    request = execution_request(task, SETTINGS)
    assert request.config == {"a": 1, "b": 2}
    assert request.limits.timeout_seconds == 7
    assert request.args == {"x": 1}
    assert request.meta == {"executed_by": "codebox", "attempt": 1}
    assert request.limits.output_bytes == SETTINGS.output_limit
