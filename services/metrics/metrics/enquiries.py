"""Counting enquiries (咨询) and praise and suggestions (表扬、建议) from complaints.cases.v1.

Each enquiry and each piece of feedback is one fact row (the cohorts of the KPI report), and
live counters carry bounded labels only: channel, department, kind, category, outcome.
An enquiry's department is the one asked about, else its owner's (who answers for it).
"""

from __future__ import annotations

import asyncpg

from hospital_shared.service_events.enquiries import (
    ENQUIRY_EVENT_TYPES,
    EnquiryChanged,
    EnquiryTimeLimitReached,
    FeedbackReceived,
    SuggestionAnswered,
)
from hospital_shared.vocabulary import (
    EnquiryChannel,
    FeedbackChannel,
    FeedbackKind,
    SuggestionOutcome,
)
from metrics import catalog
from metrics.domain import label
from metrics.received import Handler, Received

ENQUIRY_CHANNELS = frozenset(c.value for c in EnquiryChannel)
FEEDBACK_CHANNELS = frozenset(c.value for c in FeedbackChannel)
FEEDBACK_KINDS = frozenset(k.value for k in FeedbackKind)
OUTCOMES = frozenset(o.value for o in SuggestionOutcome)


def _enquiry_labels(enquiry: EnquiryChanged | EnquiryTimeLimitReached) -> dict[str, str]:
    # the time-limit events name no owner's department
    owners = enquiry.owner_department if isinstance(enquiry, EnquiryChanged) else None
    return {
        "channel": label(enquiry.channel, allowed=ENQUIRY_CHANNELS),
        "department": label(enquiry.department_code or owners),
    }


async def on_enquiry_changed(conn: asyncpg.Connection, e: Received[EnquiryChanged]) -> None:
    """Taken, handed over, answered or converted: the row follows the latest event; the
    answer is counted once, in time or late."""
    enquiry = e.contract
    labels = _enquiry_labels(enquiry)
    enquiry_id = enquiry.enquiry_number
    in_time = enquiry.answered_in_time
    answered_before = await conn.fetchval(
        "SELECT answered_at IS NOT NULL FROM enquiries WHERE enquiry_id = $1", enquiry_id
    )
    await conn.execute(
        """INSERT INTO enquiries AS q (enquiry_id, channel, department, taken_at, due_at, status,
               answered_at, answered_in_time)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (enquiry_id) DO UPDATE SET status = EXCLUDED.status,
               department = EXCLUDED.department,
               answered_at = coalesce(q.answered_at, EXCLUDED.answered_at),
               answered_in_time = coalesce(q.answered_in_time, EXCLUDED.answered_in_time)""",
        enquiry_id,
        labels["channel"],
        labels["department"],
        enquiry.starts_at,
        enquiry.due_at,
        label(enquiry.status),
        enquiry.answered_at,
        in_time,
    )
    answered = not answered_before and enquiry.answered_at is not None
    if e.type == "enquiry.taken":
        e.tally.add(catalog.ENQUIRIES, labels)
    if e.type == "enquiry.answered" and answered:
        outcome = "in_time" if in_time else "late"
        e.tally.add(catalog.ENQUIRIES_ANSWERED, {**labels, "outcome": outcome})


async def on_enquiry_time_limit(
    conn: asyncpg.Connection, e: Received[EnquiryTimeLimitReached]
) -> None:
    level = "escalated" if e.type.endswith("breached") else "warned"
    e.tally.add(catalog.ENQUIRY_ALERTS, {**_enquiry_labels(e.contract), "outcome": level})


def _feedback_labels(feedback: FeedbackReceived) -> dict[str, str]:
    return {
        "kind": label(feedback.kind, allowed=FEEDBACK_KINDS, default="suggestion"),
        "channel": label(feedback.channel, allowed=FEEDBACK_CHANNELS),
        "department": label(feedback.department_code),
    }


async def on_feedback_received(conn: asyncpg.Connection, e: Received[FeedbackReceived]) -> None:
    feedback = e.contract
    labels = _feedback_labels(feedback)
    fresh = await conn.fetchval(
        "INSERT INTO feedback (feedback_id, kind, channel, department, category, received_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (feedback_id) DO NOTHING"
        " RETURNING feedback_id",
        feedback.feedback_number,
        labels["kind"],
        labels["channel"],
        labels["department"],
        label(feedback.category, default="other"),
        feedback.occurred_at,
    )
    if fresh is not None:
        e.tally.add(catalog.FEEDBACK, labels)


async def on_suggestion_answered(conn: asyncpg.Connection, e: Received[SuggestionAnswered]) -> None:
    answered = e.contract
    outcome = label(answered.outcome, allowed=OUTCOMES)
    department = label(answered.department_code)
    changed = await conn.fetchval(
        "INSERT INTO feedback (feedback_id, kind, channel, department, category, received_at,"
        " outcome, answered_at) VALUES ($1, 'suggestion', $2, $3, $4, $5, $6, $5)"
        " ON CONFLICT (feedback_id) DO UPDATE SET outcome = EXCLUDED.outcome,"
        " answered_at = EXCLUDED.answered_at WHERE feedback.answered_at IS NULL"
        " RETURNING feedback_id",
        answered.feedback_number,
        label(answered.channel, allowed=FEEDBACK_CHANNELS),
        department,
        label(answered.category, default="other"),
        answered.occurred_at,
        outcome,
    )
    if changed is not None:
        e.tally.add(catalog.SUGGESTIONS_ANSWERED, {"department": department, "outcome": outcome})


HANDLERS: dict[str, Handler] = {
    **{type_: on_enquiry_changed for type_ in ENQUIRY_EVENT_TYPES},
    "enquiry.time_limit_warning": on_enquiry_time_limit,
    "enquiry.time_limit_breached": on_enquiry_time_limit,
    "feedback.praise_received": on_feedback_received,
    "feedback.suggestion_received": on_feedback_received,
    "feedback.suggestion_answered": on_suggestion_answered,
}
