"""An outcome names the attempt it records (the task's attempts made + 1 as the caller saw
it): the same "not reached" sent twice (a double click, a browser's retry) counts one dial,
not two, so a patient is not given up as unreachable after one real call."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fastapi import HTTPException

from followup.api import refusals
from followup.domain import AttemptNotNext, CallOutcome, RetryPlanned, decide_outcome
from hospital_shared.problems import from_http_exception
from tests.followup.test_domain import HOURS, NOW, POLICY, TASK, decide

NOT_REACHED = CallOutcome(reached=False, not_reached_reason="no_answer")


def decide_attempt(attempts_made: int, attempt: int):  # type: ignore[no-untyped-def]
    task = replace(TASK, attempts_made=attempts_made)
    return decide_outcome(task, NOT_REACHED, policy=POLICY, hours=HOURS, now=NOW, attempt=attempt)


def test_the_next_attempt_is_recorded_as_before() -> None:
    assert decide_attempt(1, 2) == decide(replace(TASK, attempts_made=1), NOT_REACHED)
    assert isinstance(decide_attempt(0, 1), RetryPlanned)


def test_an_attempt_recorded_already_is_refused_naming_the_attempts_made() -> None:
    with pytest.raises(AttemptNotNext) as refused:
        decide_attempt(1, 1)
    assert refused.value.attempts_made == 1 and refused.value.conflict
    with pytest.raises(AttemptNotNext):
        decide_attempt(1, 3)  # a screen ahead of the task cannot record either


def test_the_refusal_is_a_409_problem_with_the_tasks_attempts_made() -> None:
    with pytest.raises(HTTPException) as answer, refusals():
        decide_attempt(2, 2)
    response = from_http_exception(answer.value, "/v1/tasks/FU-A1/outcome")
    assert response.status_code == 409
    assert response.body.startswith(b'{"type":"about:blank","title":"Conflict","status":409')
    assert b'"attempts_made":2' in response.body
    assert b"attempt 2 is not the next one (3)" in response.body
