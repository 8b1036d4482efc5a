"""The normalisation and comparison of tests/compat/enms_sequence.py, on small answers."""

from __future__ import annotations

from tests.compat.enms_sequence import compare, differences, normalise


def test_normalise_keeps_types_and_hides_what_varies() -> None:
    answer = {"id": 7, "runtime": "2026-12-06 06:42:03.923184", "duration": "0:00:01",
              "detail": "key abc123 at 2026-12-06T06:42:03Z", "port": 22, "name": 3281355014145,
              "traceback": "File /x", "error": "Traceback (most recent call last):\n ..."}
    assert normalise(answer, ["abc123"]) == {
        "id": 0, "runtime": "<time>", "duration": "<duration>",
        "detail": "key <secret> at <time>", "port": 22, "name": 0,
        "traceback": "<traceback>", "error": "<traceback>",
    }


def test_differences_of_keys_types_values_and_listed_names() -> None:
    enms = {"a": 1, "only": True, "rows": [{"name": "x", "v": 1}, {"name": "y", "v": 2}],
            "word": "REST API", "tags": ["b", "a"]}
    runplane = {"a": "1", "extra": None, "rows": [{"name": "y", "v": 9}, {"name": "x", "v": 9}],
                "word": "REST", "tags": ["a", "b"]}
    assert differences("s", enms, runplane) == [
        "s body: eNMS keys ['only'] | runplane lacks them",
        "s body: eNMS lacks them | runplane keys ['extra']",
        "s body.a: eNMS number | runplane str",
        's body.rows: eNMS names ["x", "y"] | runplane names ["y", "x"]',
        's body.word: eNMS "REST API" | runplane "REST"',
    ]


def test_compare_reports_status_and_unsent_steps() -> None:
    recorded = {"one": {"status": 200, "body": {}}, "two": {"status": 200, "body": None}}
    answered = {"one": {"status": 404, "body": {}}}
    assert compare(recorded, answered) == [
        "one status: eNMS 200 | runplane 404", "two: eNMS answered | runplane not sent"]
