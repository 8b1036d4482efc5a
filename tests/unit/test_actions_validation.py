"""A batch's jobs at submission (iVvy's 24092 / 24093, our limit) and an action's params."""

from __future__ import annotations

from typing import Any

import pytest

from runplane.api.batch_door import actions
from runplane.api.batch_door.envelope import (
    EMPTY_JOB_PARAMETER,
    INCORRECT_JOB_FORMAT,
    JOB_INVALID_PARAMS,
    JOB_UNKNOWN_ACTION,
    JOB_UNKNOWN_NAMESPACE,
    TOO_MANY_JOBS,
    BatchError,
    from_core,
)
from runplane.api.batch_door.jobs import parse_jobs
from runplane.errors import Conflict, Forbidden, Invalid, NotFound, StoreUnavailable

GOOD = {"namespace": "device", "action": "create", "params": {"name": "r1"}}


def refused(body: Any, max_jobs: int = 1000) -> BatchError:
    with pytest.raises(BatchError) as error:
        parse_jobs(body, max_jobs)
    return error.value


@pytest.mark.parametrize("body", [
    {},
    {"jobs": None},
    {"jobs": "[]"},
    {"jobs": {"namespace": "device"}},
    {"jobs": []},
    {"jobs": [GOOD, "a string"]},
    {"jobs": [GOOD, ["device", "create", {}]]},
    {"jobs": [{"action": "create", "params": {"name": "x"}}]},
    {"jobs": [{"namespace": "device", "params": {"name": "x"}}]},
    {"jobs": [{"namespace": "device", "action": "create"}]},
    {"jobs": [{"namespace": 5, "action": "create", "params": {"name": "x"}}]},
    {"jobs": [{"namespace": "device", "action": "", "params": {"name": "x"}}]},
    {"jobs": [{"namespace": "device", "action": "create", "params": ["name", "x"]}]},
    {"jobs": [{"namespace": "device", "action": "create", "params": "name=x"}]},
    {"jobs": [{"namespace": "d" * 200, "action": "create", "params": {"name": "x"}}]},
])
def test_incorrect_job_format(body: dict[str, Any]) -> None:
    error = refused(body)
    assert (error.status, error.code, error.message) == (400, INCORRECT_JOB_FORMAT,
                                                          "Incorrect Job Format")
    assert error.additional and error.envelope()["specificCode"] == 24092


@pytest.mark.parametrize("params", [
    {}, {"name": ""}, {"name": None}, {"name": "x", "tags": []}, {"name": "x", "extra": {}},
])
def test_empty_job_parameter(params: dict[str, Any]) -> None:
    error = refused({"jobs": [GOOD, {**GOOD, "params": params}]})
    assert (error.status, error.code) == (400, EMPTY_JOB_PARAMETER)
    assert error.message == "Empty job parameter found"
    assert error.additional[0].startswith("jobs[1].params")


def test_format_is_judged_before_emptiness() -> None:
    error = refused({"jobs": [{**GOOD, "params": {}}, {"namespace": "x"}]})
    assert error.code == INCORRECT_JOB_FORMAT


def test_too_many_jobs() -> None:
    error = refused({"jobs": [GOOD] * 11}, max_jobs=10)
    assert error.code == TOO_MANY_JOBS and "at most 10" in error.message


def test_good_jobs_parse_in_order_and_falsy_non_empty_values_pass() -> None:
    jobs = parse_jobs({"jobs": [GOOD, {**GOOD, "params": {"name": "r2", "port": 0,
                                                          "enabled": False}}]}, 2)
    assert [job.params["name"] for job in jobs] == ["r1", "r2"]
    assert jobs[1].params["port"] == 0


def test_unknown_namespaces_and_actions_name_what_exists() -> None:
    with pytest.raises(BatchError) as namespace:
        actions.find("event", "inviteContacts")
    assert namespace.value.code == JOB_UNKNOWN_NAMESPACE
    assert "device" in namespace.value.additional[0]
    with pytest.raises(BatchError) as action:
        actions.find("device", "inviteContacts")
    assert action.value.code == JOB_UNKNOWN_ACTION and "create" in action.value.additional[0]


@pytest.mark.parametrize(("namespace", "action", "params", "field"), [
    ("script", "get", {"id": "x"}, "id"),
    ("script", "get", {"id": 0}, "id"),
    ("script", "run", {"id": 1, "unknown_key": 1}, "unknown_key"),
    ("script", "create", {"label": "x"}, "runtime_name"),
    ("device", "create", {"vendor": "no name"}, "name"),
    ("run", "get", {"runtime": "a", "id": 1}, "runtime or id"),
    ("script", "list", {"perPage": 100000}, "perPage"),
])
def test_params_are_validated_per_action(namespace: str, action: str, params: dict[str, Any],
                                         field: str) -> None:
    with pytest.raises(BatchError) as error:
        actions.parse(actions.find(namespace, action), params)
    assert error.value.code == JOB_INVALID_PARAMS
    assert any(field in message for message in error.value.additional)


def test_every_namespace_of_the_issue_is_registered() -> None:
    wanted = {
        "script": {"create", "get", "list", "update", "delete", "run"},
        "service": {"create", "get", "list", "delete", "run"},
        "device": {"create", "get", "list", "update", "delete"},
        "pool": {"create", "get", "list", "update", "delete"},
        "run": {"get", "stop", "result"},
    }
    registry = actions.registry()
    for namespace, names in wanted.items():
        assert names <= set(registry[namespace]), namespace


def test_core_errors_become_ivvy_envelopes() -> None:
    cases = [
        (NotFound("Script", "Not found."), 404, 24204),
        (Invalid.field("label", "This field is required."), 400, 24203),
        (Conflict("name", "exists"), 409, 24205),
        (Forbidden("no"), 403, 24403),
        (StoreUnavailable("down"), 503, 24091),
    ]
    for error, status, code in cases:
        shown = from_core(error).envelope()
        assert (shown["errorCode"], shown["specificCode"]) == (status, code)
        assert set(shown) == {"errorCode", "message", "specificCode", "additionalMessages"}
    assert from_core(Invalid.field("label", "required")).additional == ["label: required"]

