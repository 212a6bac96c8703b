"""A call's answers per question, and a survey answered by link: which task it marks and
when a dissatisfied answer (any aspect) calls for the targeted second call."""

from __future__ import annotations

import pytest

from followup.domain import CallOutcome, TaskRejected
from followup.surveys import task_id_of
from hospital_shared.service_events.surveys import Aspect, Satisfaction, SurveyAnswer


def answer(question: str, aspect: Aspect, rating: Satisfaction) -> SurveyAnswer:
    return SurveyAnswer(question_id=question, aspect=aspect, satisfaction=rating)


def test_a_dissatisfied_answer_about_any_aspect_makes_the_call_dissatisfied() -> None:
    fine = CallOutcome(reached=True, satisfaction=Satisfaction.SATISFIED)
    assert not fine.dissatisfied
    guidance = answer("guidance", Aspect.GUIDANCE, Satisfaction.DISSATISFIED)
    overall = answer("overall", Aspect.OVERALL, Satisfaction.SATISFIED)
    outcome = CallOutcome(
        reached=True, satisfaction=Satisfaction.SATISFIED, answers=(overall, guidance),
        questionnaire_version=1,
    )  # fmt: skip
    assert outcome.dissatisfied


@pytest.mark.parametrize(
    "kwargs",
    [
        {"reached": False, "answers": (answer("overall", Aspect.OVERALL, Satisfaction.SATISFIED),)},
        {"reached": True, "answers": (answer("overall", Aspect.OVERALL, Satisfaction.SATISFIED),)},
        {
            "reached": True,
            "questionnaire_version": 1,
            "answers": (answer("overall", Aspect.OVERALL, Satisfaction.SATISFIED),) * 2,
        },
    ],
    ids=["unreached", "no version", "one question twice"],
)
def test_answers_that_cannot_be_kept_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(TaskRejected):
        CallOutcome(**kwargs)  # type: ignore[arg-type]


def test_a_survey_names_the_task_of_its_visit_or_discharge_and_no_other() -> None:
    assert task_id_of("registration:R-1") == "FU-OP-R-1"
    assert task_id_of("admission:A-1") == "FU-A-1"
    assert task_id_of("case:TS-1") is None
    assert task_id_of("registration") is None
