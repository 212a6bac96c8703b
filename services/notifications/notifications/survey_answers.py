"""From a posted survey form to the `survey.answered` event. The form's names are
`q.<question>` (the choice), `s.<question>` (the 1-5 score), `t.<question>` (free text)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from hospital_shared import topics
from hospital_shared.events import make_event
from hospital_shared.outbox import add_to_outbox
from hospital_shared.questionnaires import (
    Answer,
    AnswerRefused,
    Questionnaire,
    Refusal,
    dissatisfied,
)
from hospital_shared.service_events.surveys import SurveyAnswered

SOURCE = "urn:hospital:notifications"
_PARTS = {"q": "satisfaction", "s": "score", "t": "text"}


def given_answers(fields: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """`question -> {"satisfaction", "score", "text"}` from the form's fields; a name that is
    not one of ours is refused as an unknown question."""
    given: dict[str, dict[str, str]] = {}
    for name, value in fields.items():
        prefix, _, question = name.partition(".")
        part = _PARTS.get(prefix)
        if part is None or not question:
            raise AnswerRefused(name[:40], Refusal.UNKNOWN_QUESTION)
        given.setdefault(question, {})[part] = value
    return given


async def publish_answered(
    conn: asyncpg.Connection,
    link: Mapping[str, Any],
    questionnaire: Questionnaire,
    answers: tuple[Answer, ...],
    *,
    now: datetime,
) -> None:
    """Queue `survey.answered` in the transaction that marked the link answered; its id is
    the link's, so the event is one per link whatever happens after."""
    data = SurveyAnswered(
        survey_id=link["link_id"],
        patient_id=link["patient_id"],
        contact_ref=link["contact_ref"],
        contact_kind=link["contact_kind"],
        department_code=link["department_code"],
        case_cycle=link["case_cycle"],
        questionnaire_version=questionnaire.version,
        answered_at=now,
        answers=answers,
        dissatisfied=dissatisfied(answers),
    )
    event = make_event(
        "survey.answered", data, source=SOURCE, subject=link["contact_ref"], time=now,
        event_id=f"survey-answered:{link['link_id']}",
    )  # fmt: skip
    await add_to_outbox(conn, event, topic=topics.SURVEYS, key=link["patient_id"])
