"""The complaint satisfaction check answered by SMS link: the complaint-handling answer is
the check's rating; the comment goes with it."""

from __future__ import annotations

from types import SimpleNamespace

from complaints.domain import Satisfaction
from complaints.survey_checks import check_rating
from hospital_shared.service_events.surveys import Aspect, SurveyAnswer
from hospital_shared.service_events.surveys import Satisfaction as Answered


def test_the_handling_answer_is_the_rating_and_its_text_the_comment() -> None:
    data = SimpleNamespace(
        answers=(
            SurveyAnswer(question_id="handling", aspect=Aspect.COMPLAINT_HANDLING,
                         satisfaction=Answered.DISSATISFIED, score=1),
            SurveyAnswer(question_id="comments", aspect=Aspect.COMPLAINT_HANDLING, text="没有退款"),
        )
    )  # fmt: skip
    assert check_rating(data) == (Satisfaction.DISSATISFIED, "没有退款")


def test_without_a_handling_answer_there_is_no_check() -> None:
    other = SurveyAnswer(
        question_id="overall", aspect=Aspect.OVERALL, satisfaction=Answered.SATISFIED
    )
    assert check_rating(SimpleNamespace(answers=(other,))) is None
