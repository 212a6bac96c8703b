"""Questionnaires as data: the packaged ones load, and an answer is checked against the
version it was given with (unknown questions, off-scale values, oversized text refused)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hospital_shared.questionnaires import (
    MAX_TEXT_CHARS,
    AnswerRefused,
    Aspect,
    ContactKind,
    Questionnaire,
    Refusal,
    check_answers,
    default,
    defaults,
    dissatisfied,
)
from hospital_shared.service_events.followup import Satisfaction

OUTPATIENT = default(ContactKind.OUTPATIENT_VISIT)


def test_every_kind_of_contact_has_a_packaged_questionnaire_asking_for_an_overall_answer() -> None:
    for q in defaults():
        assert q.version == 1
        assert any(x.required for x in q.questions), q.kind


def test_every_packaged_question_has_its_english_for_staff_and_a_version_saved_before_still_loads() -> (
    None
):
    for q in defaults():
        assert all(x.text_en for x in q.questions), q.kind
    saved_before = OUTPATIENT.model_dump(mode="json")
    for question in saved_before["questions"]:
        del question["text_en"]
    assert Questionnaire.model_validate(saved_before).questions[0].text_en is None


def test_visits_ask_about_registration_and_guidance_staff_apart_from_the_overall_answer() -> None:
    for kind in (ContactKind.OUTPATIENT_VISIT, ContactKind.FIRST_VISIT):
        aspects = {x.aspect for x in default(kind).questions}
        assert {Aspect.REGISTRATION, Aspect.GUIDANCE, Aspect.OVERALL} <= aspects


def test_answers_keep_their_aspect_and_come_in_the_questionnaires_order() -> None:
    answers = check_answers(
        OUTPATIENT,
        {
            "overall": {"satisfaction": "满意", "score": "5"},
            "guidance": {"satisfaction": "不满意"},
            "comments": {"text": "  导医台没有人  "},
        },
    )
    assert [(a.question_id, a.aspect) for a in answers] == [
        ("guidance", Aspect.GUIDANCE),
        ("overall", Aspect.OVERALL),
        ("comments", Aspect.OVERALL),
    ]
    assert answers[1].score == 5 and answers[2].text == "导医台没有人"
    assert dissatisfied(answers)


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"nope": {"satisfaction": "满意"}}, "nope"),  # unknown question id
        ({"overall": {"satisfaction": "很好"}}, "overall"),  # off the scale
        ({"overall": {"satisfaction": "满意", "score": "6"}}, "overall"),
        ({"overall": {"satisfaction": "满意", "score": "x"}}, "overall"),
        ({"overall": {"satisfaction": "满意", "score": "²"}}, "overall"),  # isdigit(), not int()
        ({"overall": {"satisfaction": "满意", "score": "9" * 5000}}, "overall"),  # past int()
        (
            {"overall": {"satisfaction": "满意"}, "doctor": {"satisfaction": "满意", "score": "3"}},
            "doctor",
        ),  # no score asked
        (
            {
                "overall": {"satisfaction": "满意"},
                "comments": {"text": "长" * (MAX_TEXT_CHARS + 1)},
            },
            "comments",
        ),
        ({"overall": {"satisfaction": "满意"}, "comments": {"satisfaction": "满意"}}, "comments"),
        # text the event's decoder refuses (PostgreSQL's text holds no NUL; UTF-8 no surrogate)
        ({"overall": {"satisfaction": "满意"}, "comments": {"text": "hi\x00there"}}, "comments"),
        ({"overall": {"satisfaction": "满意"}, "comments": {"text": "hi\ud800"}}, "comments"),
        ({"doctor": {"satisfaction": "满意"}}, "overall"),  # the required answer missing
    ],
)
def test_answers_that_do_not_fit_the_questionnaire_are_refused_naming_the_question(
    given: dict[str, dict[str, str]], field: str
) -> None:
    with pytest.raises(AnswerRefused) as refused:
        check_answers(OUTPATIENT, given)  # type: ignore[arg-type]
    assert refused.value.field == field


def test_a_questionnaire_with_two_questions_of_one_id_is_refused() -> None:
    q = OUTPATIENT.questions[0]
    with pytest.raises(ValidationError):
        Questionnaire(kind=ContactKind.OUTPATIENT_VISIT, version=2, title="t", questions=(q, q))


def test_an_old_version_still_checks_the_answers_given_with_it() -> None:
    newer = Questionnaire(
        kind=ContactKind.OUTPATIENT_VISIT,
        version=2,
        title="新版",
        questions=(OUTPATIENT.questions[0],),
    )
    old_answer = {"overall": {"satisfaction": Satisfaction.SATISFIED.value}}
    assert check_answers(OUTPATIENT, old_answer)  # type: ignore[arg-type]
    with pytest.raises(AnswerRefused):
        check_answers(newer, old_answer)  # type: ignore[arg-type]


def test_a_line_break_posted_as_crlf_counts_as_one_character_and_is_kept_as_one() -> None:
    """A browser counts a line break as one character against the textarea's maxlength=500
    and posts it as CRLF: a comment of 20 lines of 24 characters (499 as the browser counts)
    was refused as past 500 (518)."""
    lines = ["长" * 24] * 20
    given = {"overall": {"satisfaction": "满意"}, "comments": {"text": "\r\n".join(lines)}}
    [_, comment] = check_answers(OUTPATIENT, given)  # type: ignore[arg-type]
    assert comment.text == "\n".join(lines) and len(comment.text) == 499
    given["comments"] = {"text": "第一行\r第二行\r\n"}  # a lone CR (old Macs) is a break too
    [_, comment] = check_answers(OUTPATIENT, given)  # type: ignore[arg-type]
    assert comment.text == "第一行\n第二行"
    given["comments"] = {"text": "\r\n".join(["长" * 24] * 21)}  # 524 as counted: still refused
    with pytest.raises(AnswerRefused) as refused:
        check_answers(OUTPATIENT, given)  # type: ignore[arg-type]
    assert refused.value.refusal == Refusal.TOO_LONG
