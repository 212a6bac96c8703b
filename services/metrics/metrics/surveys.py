"""Answers by aspect: surveys answered by SMS link (`survey.answered`) and the per-question
answers a follow-up call records (`followup.task_completed` with `answers`).

Survey coverage counts a visit or discharge surveyed by either channel (queries.py). The
registration and guidance-staff dissatisfaction KPIs are the share of 不满意 among the
answers to questions of those aspects, from calls and surveys alike; an overall answer is
never read as an answer about registration.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import asyncpg

from hospital_shared.service_events.surveys import SurveyAnswer, SurveyAnswered
from hospital_shared.vocabulary import Aspect, ContactKind, SurveyChannel
from metrics import catalog
from metrics.domain import label, rating
from metrics.received import Received

ASPECTS = frozenset(a.value for a in Aspect)
CHANNELS = frozenset(c.value for c in SurveyChannel)
KINDS = frozenset(k.value for k in ContactKind)


async def on_survey_answered(conn: asyncpg.Connection, e: Received[SurveyAnswered]) -> None:
    """A survey answered by link: once per survey id, whatever the redelivery."""
    survey = e.contract
    kind = label(survey.contact_kind, allowed=KINDS)
    department = label(survey.department_code)
    fresh = await conn.fetchval(
        "INSERT INTO surveys_answered (survey_id, event_id, contact_ref, contact_kind,"
        " department, dissatisfied, answered_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT DO NOTHING RETURNING true",
        survey.survey_id, e.id, survey.contact_ref, kind, department, survey.dissatisfied,
        survey.answered_at,
    )  # fmt: skip
    if not fresh:
        return
    e.tally.add(catalog.SURVEYS_ANSWERED, {"department": department, "kind": kind})
    await add_aspect_answers(
        conn, e, survey.answers, source_id=survey.survey_id, channel=SurveyChannel.SMS_LINK,
        kind=kind, department=department, answered_at=survey.answered_at,
    )  # fmt: skip


async def add_aspect_answers(
    conn: asyncpg.Connection,
    e: Received[Any],
    answers: Iterable[SurveyAnswer],
    *,
    source_id: str,
    channel: str,
    kind: str,
    department: str,
    answered_at: datetime,
) -> None:
    """The event's `answers` with a rating, one row each, counted once (in `e`'s tally)."""
    rows = list(_rated(answers))
    if not rows:
        return
    inserted = await conn.fetch(
        "INSERT INTO aspect_answers (source_id, question_id, channel, kind, department, aspect,"
        " rating, answered_at) SELECT $1, q, $2, $3, $4, a, r, $5"
        " FROM unnest($6::text[], $7::text[], $8::text[]) AS x(q, a, r)"
        " ON CONFLICT DO NOTHING RETURNING aspect, rating",
        source_id, channel, kind, department, answered_at,
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
    )  # fmt: skip
    for row in inserted:
        labels = {"aspect": row["aspect"], "channel": channel, "rating": row["rating"]}
        e.tally.add(catalog.ASPECT_ANSWERS, labels)


def _rated(answers: Iterable[SurveyAnswer]) -> Iterable[tuple[str, str, str]]:
    """(question, aspect, rating) of each answer with a satisfaction, a question once."""
    seen: set[str] = set()
    for answer in answers:
        question = answer.question_id
        answer_rating = rating(answer.satisfaction)
        if answer_rating is None or question in seen:
            continue
        seen.add(question)
        yield question[:40], label(answer.aspect, allowed=ASPECTS), answer_rating


HANDLERS = {"survey.answered": on_survey_answered}
