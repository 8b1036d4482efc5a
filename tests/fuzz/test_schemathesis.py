"""Schemathesis over every operation of /openapi.json, with valid (positive) and invalid
(negative) data, as the account's admin key and as an instance key with the `run` role.

Every answer must be below 500 and, if an error, JSON in its door's envelope
(tests/support/envelopes.py); afterwards the server still answers. Inputs and 5xx are
counted for the run's report.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
import schemathesis
from hypothesis import given
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.fuzz.budget import REQUEST_TIMEOUT, examples, fuzz_settings
from tests.fuzz.tally import Tally
from tests.fuzz.target import FuzzTarget, still_answers
from tests.support.envelopes import schemathesis_problem
from tests.support.fuzz_report import PROPERTY

PROBLEMS_SHOWN = 20


def pinned_path(operation: Any, mode: GenerationMode, target: FuzzTarget) -> dict[str, str]:
    """Valid cases name the seeded instance (random names would all be 404), except where
    that would delete it; invalid cases name whatever they generate."""
    names = {parameter.name for parameter in operation.path_parameters}
    deletes_it = operation.method.upper() == "DELETE" and operation.path.endswith(
        "/instances/{instance}/")
    if mode is GenerationMode.POSITIVE and "instance" in names and not deletes_it:
        return {"instance": target.instance}
    return {}


def can_be_invalid(operation: Any) -> bool:
    """Whether negative generation has anything to break: a body, a query parameter, or a
    path parameter narrower than any string (otherwise it only reports Unsatisfiable, slowly)."""
    raw = operation.definition.raw
    if "requestBody" in raw:
        return True
    return any(parameter.get("in") == "query"
               or set(parameter.get("schema", {})) - {"type", "title"}
               for parameter in raw.get("parameters", []))


def fuzz_operation(operation: Any, mode: GenerationMode, target: FuzzTarget, key: str,
                   tally: Tally, problems: list[str]) -> None:
    """Send the operation `examples()` generated cases; count and note what breaks the rules."""
    strategy = operation.as_strategy(generation_mode=mode,
                                     path_parameters=pinned_path(operation, mode, target))

    @given(case=strategy)
    @fuzz_settings()
    def fuzz(case: Any) -> None:
        response = case.call(base_url=target.base_url, headers=target.headers(key),
                             timeout=REQUEST_TIMEOUT)
        problem = schemathesis_problem(response)
        tally.count(response.status_code, problem)
        if problem is not None and len(problems) < PROBLEMS_SHOWN:
            problems.append(f"{problem}: {case.method} {case.formatted_path} query={case.query} "
                            f"body={str(case.body)[:200]} -> {response.content[:200]!r}")

    # Unsatisfiable: nothing in this operation can be made invalid.
    with contextlib.suppress(Unsatisfiable):
        fuzz()


@pytest.mark.slow
def test_every_operation_answers_in_its_envelope(
    fuzz_target: FuzzTarget, record_property: Any
) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_target.base_url}/openapi.json")
    tally = Tally("schemathesis", fuzz_target.database, examples())
    problems: list[str] = []
    operations = 0
    for key in fuzz_target.callers().values():
        for loaded in schema.get_all_operations():
            operation = loaded.ok()
            operations += 1
            modes = GenerationMode if can_be_invalid(operation) else [GenerationMode.POSITIVE]
            for mode in modes:
                fuzz_operation(operation, mode, fuzz_target, key, tally, problems)
    record_property(PROPERTY, tally.as_record())
    still_answers(fuzz_target)
    assert operations >= 2 * 40  # every operation of the three doors, for both callers
    assert tally.inputs_tried >= operations  # each was sent something
    assert not problems, "\n".join(problems)
