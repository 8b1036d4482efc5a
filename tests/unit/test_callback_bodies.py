"""Callback bodies rendered from the records the outbox keeps: the exact bytes receivers get
(keys in their order), and records that come back from the outbox's JSON as they went in."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from runplane.delivery.bodies import render
from runplane.model import TaskOutput
from runplane.model.callbacks import (
    AnsweredJob,
    BatchReport,
    CallbackRecord,
    Rendered,
    RunReport,
    TargetStatus,
)
from runplane.store.callback_records import BATCH_SUBJECT, RUN_SUBJECT, decode, encode

CREATED = datetime(2026, 12, 6, 4, 5, 6, 789012, tzinfo=UTC)
FINISHED = datetime(2026, 12, 6, 4, 5, 7, 1, tzinfo=UTC)

SCRIPT_RUN = RunReport(
    run_id=41, kind="script", instance="hooks", status="success", runtime="python3",
    script_number=3, number=17, created_at=CREATED, started_at=CREATED, finished_at=FINISHED,
    duration_ms=12, tasks_total=1, tasks_failed=0, error=None,
    output=TaskOutput(status="success", exit_code=0, stdout="hi ünïcode\n", stderr=None,
                      output_truncated=False, duration_ms=12, error=None,
                      result={"z": 1, "a": [1.5, None, "x"]}),
)
SERVICE_RUN = RunReport(
    run_id=42, kind="service", instance="default", status="failure", runtime="2026-12-06-04",
    script_number=None, number=None, created_at=CREATED, started_at=None,
    finished_at=FINISHED, duration_ms=None, tasks_total=3, tasks_failed=1,
    error="one target failed",
    targets=(TargetStatus("r1", "success"), TargetStatus("r2", "failure"),
             TargetStatus("r3", "success")),
)
BATCH = BatchReport(async_id="ab" * 16, jobs=(
    AnsweredJob("device", "create", {"name": "r1", "vendor": "Cisco"}, {"name": "r1", "id": 1}),
    AnsweredJob("pool", "get", {"name": "p"}, {"success": False, "specificCode": 24205}),
))


def sent(record: CallbackRecord) -> str:
    """The text the sender signs and posts."""
    return json.dumps(render(record), separators=(",", ":"), ensure_ascii=False)


def test_a_script_run_reports_the_run_and_its_one_task_in_the_receivers_key_order() -> None:
    assert sent(SCRIPT_RUN) == (
        '{"run":{"id":41,"kind":"script","instance":"hooks","status":"success","success":true,'
        '"runtime":"python3","script":3,"trace":17,"created_at":"2026-12-06T04:05:06.789012Z",'
        '"started_at":"2026-12-06T04:05:06.789012Z","finished_at":"2026-12-06T04:05:07.000001Z",'
        '"duration_ms":12,"tasks_total":1,"tasks_failed":0,"error":null},'
        '"result":{"stdout":"hi ünïcode\\n","stderr":"","exit_code":0,"truncated":false,'
        '"value":{"z":1,"a":[1.5,null,"x"]}}}'
    )


def test_a_service_run_over_several_targets_reports_a_summary_and_no_result() -> None:
    assert sent(SERVICE_RUN) == (
        '{"run":{"id":42,"kind":"service","instance":"default","status":"failure",'
        '"success":false,"runtime":"2026-12-06-04","script":null,"trace":null,'
        '"created_at":"2026-12-06T04:05:06.789012Z","started_at":null,'
        '"finished_at":"2026-12-06T04:05:07.000001Z","duration_ms":null,"tasks_total":3,'
        '"tasks_failed":1,"error":"one target failed"},'
        '"summary":{"success":["r1","r3"],"failure":["r2"]}}'
    )


def test_a_batch_reports_every_job_as_the_batch_doors_results() -> None:
    assert sent(BATCH) == (
        '{"asyncId":"' + "ab" * 16 + '","results":['
        '{"namespace":"device","action":"create","request":{"name":"r1","vendor":"Cisco"},'
        '"response":{"name":"r1","id":1}},'
        '{"namespace":"pool","action":"get","request":{"name":"p"},'
        '"response":{"success":false,"specificCode":24205}}]}'
    )


def test_a_body_rendered_already_is_sent_as_it_is() -> None:
    assert sent(Rendered({"b": 1, "a": [2]})) == '{"b":1,"a":[2]}'


def kept(subject: str, record: CallbackRecord) -> CallbackRecord:
    """`record` written to the outbox's JSON column and read back."""
    return decode(subject, json.loads(json.dumps(encode(record))))


@pytest.mark.parametrize(("subject", "record"), [
    (RUN_SUBJECT, SCRIPT_RUN), (RUN_SUBJECT, SERVICE_RUN), (BATCH_SUBJECT, BATCH),
])
def test_records_come_back_from_the_outbox_as_they_went_in(
    subject: str, record: CallbackRecord
) -> None:
    assert kept(subject, record) == record
    assert sent(kept(subject, record)) == sent(record)


@pytest.mark.parametrize(("subject", "body"), [
    (RUN_SUBJECT, {"run": {"id": 1}, "result": {"stdout": ""}}),
    (BATCH_SUBJECT, {"asyncId": "x", "results": []}),
    ("test", {"record": 1, "other": 2}),
])
def test_bodies_written_by_an_earlier_version_are_sent_unchanged(
    subject: str, body: Any
) -> None:
    assert decode(subject, body) == Rendered(body)
