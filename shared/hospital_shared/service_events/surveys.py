"""Answers to satisfaction questionnaires, on `surveys.answers.v1`: published by the
notifications service when a patient answers the survey page of an SMS link. The follow-up
service marks the contact surveyed (a dissatisfied answer plans a targeted second call),
complaints takes a post-closure satisfaction check (dissatisfied reopens the case), metrics
counts survey coverage and satisfaction by aspect.

Each answer repeats its question's aspect, so counting by aspect needs no questionnaire; the
questionnaire's kind and version say what exactly was asked. The answer id (`survey_id`) is
the link's, so a repeat is recognised by every consumer.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints

from hospital_shared import topics
from hospital_shared.events import Contract, NonEmpty, register_event

# Aspect and Satisfaction are named here as they always were; defined in the vocabulary.
from hospital_shared.vocabulary import Aspect as Aspect
from hospital_shared.vocabulary import ContactKind, EventName, SurveyChannel
from hospital_shared.vocabulary import Satisfaction as Satisfaction

MAX_TEXT_CHARS = 500  # one free-text answer: a patient's sentence or two, not an essay

QuestionId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]


class SurveyAnswer(Contract):
    """One answer: the question, its aspect, and what the patient said."""

    question_id: QuestionId
    aspect: Aspect
    satisfaction: Satisfaction | None = None
    score: int | None = Field(default=None, ge=1, le=5)
    text: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)


class SurveyAnswered(Contract):
    """A patient answered a survey (one per link: the link is answerable once).

    `contact_ref` is the contact surveyed, as the hospital systems name it
    (`registration:<id>`, `admission:<id>`, `case:<number>`); `contact_kind` the
    questionnaire's kind (`inpatient_discharge`, `outpatient_visit`, `first_visit`,
    `complaint_check`); `channel` is `sms_link` (a follow-up call's answers travel in
    `followup.task_completed`)."""

    survey_id: NonEmpty
    patient_id: NonEmpty
    contact_ref: NonEmpty
    contact_kind: ContactKind
    department_code: str | None = None
    case_cycle: int | None = None  # a complaint check: the case's cycle it asks about
    questionnaire_version: int = Field(ge=1)
    channel: SurveyChannel = SurveyChannel.SMS_LINK
    answered_at: AwareDatetime
    answers: tuple[SurveyAnswer, ...] = Field(default=(), max_length=30)
    dissatisfied: bool = False


register_event(EventName.SURVEY_ANSWERED, SurveyAnswered, topics.SURVEYS)
