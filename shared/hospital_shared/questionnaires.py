"""Questionnaires as data: what a follow-up call and the patient's survey page ask, per kind
of contact, and the check of one set of answers against the version it was given with.

The defaults are the JSON files in `questionnaire_data/` (one per kind, reviewed like code);
operations publish a new version through the notifications API (`PUT /v1/questionnaires/
{kind}`, admin), kept in that service's `questionnaires` table. A version is never changed
once saved: an answer names the version it was given with, so an old answer keeps meaning
what it meant. Pure: no I/O besides reading the packaged files.

Every question has an **aspect** (挂号, 导医, doctor, ...): the KPIs "dissatisfaction with
registration" and "with guidance staff" are the share of 不满意 among answers to those aspects,
from calls and surveys alike, never the overall answer of an outpatient.
"""

from __future__ import annotations

import json
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from hospital_shared.bounds import UNSTORABLE_TEXT, storable_text, whole_number
from hospital_shared.service_events.surveys import MAX_TEXT_CHARS, Aspect, QuestionId
from hospital_shared.service_events.surveys import SurveyAnswer as Answer
from hospital_shared.vocabulary import ContactKind as ContactKind  # named here as it always was
from hospital_shared.vocabulary import Satisfaction

DATA = Path(__file__).parent / "questionnaire_data"
MAX_QUESTIONS = 30


Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class Question(BaseModel):
    """One question: `text` is what the patient reads (Chinese), `text_en` the same in English
    for staff. `answer` says what is asked: the satisfaction scale (`Satisfaction`:
    满意 / 基本满意 / 不满意, with an optional 1-5 score when `score` is true), or free text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: QuestionId
    aspect: Aspect
    text: Label
    # The question in English, for staff who read the console in English (the patient's page
    # and the call ask `text`); a version saved before it was there has none.
    text_en: Label | None = None
    answer: Literal["scale", "text"] = "scale"
    score: bool = False
    required: bool = False


class Questionnaire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ContactKind
    version: int = Field(ge=1)
    title: Label
    questions: tuple[Question, ...] = Field(min_length=1, max_length=MAX_QUESTIONS)

    @model_validator(mode="after")
    def _ids_unique(self) -> Questionnaire:
        ids = [q.id for q in self.questions]
        if len(ids) != len(set(ids)):
            raise ValueError("question ids must be unique within a questionnaire")
        return self

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)


class Refusal(StrEnum):
    """Why an answer was refused. A page keys its own wording (the survey page's Chinese) on
    this, never on the English message of the API's 422, which may be reworded: the survey page
    keyed on the message and said only "请检查后重新提交" once the scale's was respelt."""

    UNKNOWN_QUESTION = "unknown_question"
    REQUIRED = "required"
    TEXT_ONLY = "text_only"
    TOO_LONG = "too_long"
    UNSTORABLE = "unstorable"
    CHOICE_ONLY = "choice_only"
    SCORE_WITHOUT_CHOICE = "score_without_choice"
    NOT_ON_SCALE = "not_on_scale"
    NO_SCORE = "no_score"
    SCORE_RANGE = "score_range"


_MESSAGES = {
    Refusal.UNKNOWN_QUESTION: "no such question in this questionnaire",
    Refusal.REQUIRED: "this question needs an answer",
    Refusal.TEXT_ONLY: "this question takes text only",
    Refusal.TOO_LONG: f"at most {MAX_TEXT_CHARS} characters",
    Refusal.UNSTORABLE: UNSTORABLE_TEXT,
    Refusal.CHOICE_ONLY: "this question takes a choice, not text",
    Refusal.SCORE_WITHOUT_CHOICE: "a score needs a choice",
    Refusal.NOT_ON_SCALE: f"choose one of {', '.join(Satisfaction)}",
    Refusal.NO_SCORE: "this question takes no score",
    Refusal.SCORE_RANGE: "the score is a whole number from 1 to 5",
}


class AnswerRefused(ValueError):
    """An answer does not fit its questionnaire; `field` names the part (for a 4xx), `refusal`
    says why (the message is its English wording)."""

    def __init__(self, field: str, refusal: Refusal) -> None:
        super().__init__(_MESSAGES[refusal])
        self.field = field
        self.refusal = refusal


def check_answers(
    questionnaire: Questionnaire,
    given: dict[str, dict[str, str | int | None]],
) -> tuple[Answer, ...]:
    """The answers to keep, in the questionnaire's order, from what a form or a call screen
    sent (`question id -> {"satisfaction", "score", "text"}`). Refuses unknown question ids,
    values off the scale, scores where none is asked, text past MAX_TEXT_CHARS or holding what
    PostgreSQL and UTF-8 cannot (a NUL, a lone surrogate: the event's decoder refuses it) and
    missing required answers; an unanswered optional question is left out."""
    unknown = sorted(set(given) - {q.id for q in questionnaire.questions})
    if unknown:
        raise AnswerRefused(unknown[0][:40], Refusal.UNKNOWN_QUESTION)
    answers: list[Answer] = []
    for q in questionnaire.questions:
        answer = _one_answer(q, given.get(q.id) or {})
        if answer is not None:
            answers.append(answer)
        elif q.required:
            raise AnswerRefused(q.id, Refusal.REQUIRED)
    return tuple(answers)


def _one_answer(q: Question, raw: dict[str, str | int | None]) -> Answer | None:
    satisfaction, score, text = raw.get("satisfaction"), raw.get("score"), raw.get("text")
    if q.answer == "text":
        if satisfaction or score:
            raise AnswerRefused(q.id, Refusal.TEXT_ONLY)
        # A browser posts a line break as CRLF and counts it as one character against the
        # textarea's maxlength: one break is one character here too, and is kept as "\n".
        text = str(text).replace("\r\n", "\n").replace("\r", "\n").strip() if text else ""
        if len(text) > MAX_TEXT_CHARS:
            raise AnswerRefused(q.id, Refusal.TOO_LONG)
        if not storable_text(text):  # what every consumer's decoder refuses (codec.py)
            raise AnswerRefused(q.id, Refusal.UNSTORABLE)
        return Answer(question_id=q.id, aspect=q.aspect, text=text) if text else None
    if text:
        raise AnswerRefused(q.id, Refusal.CHOICE_ONLY)
    if not satisfaction:
        if score:
            raise AnswerRefused(q.id, Refusal.SCORE_WITHOUT_CHOICE)
        return None
    try:
        level = Satisfaction(str(satisfaction))
    except ValueError:
        raise AnswerRefused(q.id, Refusal.NOT_ON_SCALE) from None
    value = _score(q, score)
    return Answer(question_id=q.id, aspect=q.aspect, satisfaction=level, score=value)


def _score(q: Question, score: str | int | None) -> int | None:
    if score in (None, ""):
        return None
    if not q.score:
        raise AnswerRefused(q.id, Refusal.NO_SCORE)
    value = whole_number(score) if isinstance(score, str) else score
    if value is None or not 1 <= value <= 5:
        raise AnswerRefused(q.id, Refusal.SCORE_RANGE)
    return value


def dissatisfied(answers: tuple[Answer, ...] | list[Answer]) -> bool:
    """Any 不满意 plans a targeted second call (二次回访) or reopens a complaint."""
    return any(a.satisfaction == Satisfaction.DISSATISFIED for a in answers)


@cache
def default(kind: ContactKind) -> Questionnaire:
    """The packaged questionnaire of `kind` (the version operations start from)."""
    raw = json.loads((DATA / f"{kind.value}.json").read_text(encoding="utf-8"))
    return Questionnaire.model_validate(raw)


def defaults() -> list[Questionnaire]:
    return [default(kind) for kind in ContactKind]
