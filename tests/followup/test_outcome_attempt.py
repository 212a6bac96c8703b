"""An outcome names the attempt it records (the task's attempts made + 1 as the caller saw
it): the same "not reached" sent twice (a double click, a browser's retry) counts one dial,
not two, so a patient is not given up as unreachable after one real call. It names the life
of the task it saw too (`generation`): a screen opened before the task was withdrawn and
planned again is refused, though its attempt is the new life's next one."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fastapi import HTTPException

from followup.api import refusals
from followup.domain import (
    AttemptNotNext,
    CallOutcome,
    LifeNotCurrent,
    RetryPlanned,
    TaskRejected,
    decide_outcome,
)
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


def test_a_screen_of_the_tasks_earlier_life_is_refused_though_its_attempt_is_the_next_one() -> None:
    """Before, a screen opened for life 1 (attempt 1) recorded its outcome on life 2 as that
    life's first attempt: the attempt alone cannot tell the lives apart."""
    planned_again = replace(TASK, generation=2, attempts_made=0)
    with pytest.raises(LifeNotCurrent) as refused:
        decide_outcome(planned_again, NOT_REACHED, policy=POLICY, hours=HOURS, now=NOW,
                       attempt=1, generation=1)  # fmt: skip
    assert refused.value.generation == 2 and refused.value.conflict
    # the new life's own screen, and a client that names no life, record as before
    for generation in (2, None):
        decided = decide_outcome(planned_again, NOT_REACHED, policy=POLICY, hours=HOURS,
                                 now=NOW, attempt=1, generation=generation)  # fmt: skip
        assert isinstance(decided, RetryPlanned) and decided.attempts_made == 1


def test_a_screen_of_an_earlier_life_is_refused_for_that_even_when_the_new_life_is_closed() -> None:
    closed = replace(TASK, generation=3, status="completed")
    with pytest.raises(LifeNotCurrent):
        decide_outcome(closed, NOT_REACHED, policy=POLICY, hours=HOURS, now=NOW, generation=2)
    with pytest.raises(TaskRejected, match="is completed"):
        decide_outcome(closed, NOT_REACHED, policy=POLICY, hours=HOURS, now=NOW, generation=3)


def test_the_earlier_lifes_refusal_is_a_409_problem_naming_the_tasks_generation_now() -> None:
    with pytest.raises(HTTPException) as answer, refusals():
        decide_outcome(replace(TASK, generation=2), NOT_REACHED, policy=POLICY, hours=HOURS,
                       now=NOW, attempt=1, generation=1)  # fmt: skip
    response = from_http_exception(answer.value, "/v1/tasks/FU-A1/outcome")
    assert response.status_code == 409
    assert b'"generation":2' in response.body
    assert (
        f"task {TASK.task_id} was withdrawn and planned again since the caller read generation 1:"
        " it is generation 2 now; reload it"
    ).encode() in response.body
