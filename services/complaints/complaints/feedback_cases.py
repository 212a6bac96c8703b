"""Use cases of praise and suggestions (表扬、建议): record one, answer a suggestion.

Each runs inside the caller's transaction, with its event in the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from complaints import enquiry_store as store
from complaints import roster
from complaints.access import STAFF_ROLES, Actor
from complaints.enquiry_events import publish
from complaints.feedback import (
    FeedbackKind,
    SuggestionOutcome,
    category_of,
    check_answer,
)
from hospital_shared.service_events.enquiries import FeedbackReceived, SuggestionAnswered

Row = dict[str, Any]


class FeedbackNotFound(LookupError):
    pass


class NotPermitted(Exception):
    """HTTP 403."""


class UnknownPraisedStaff(Exception):
    """The member of staff named (`staff_id`) is not active on the roster: nobody would be
    told (HTTP 422 naming `staff_id`; a `feedback.submitted` event is dead-lettered)."""


@dataclass(frozen=True)
class FeedbackPolicy:
    praise_categories: tuple[str, ...]
    suggestion_categories: tuple[str, ...]
    number_prefix: str
    tz: ZoneInfo


@dataclass(frozen=True)
class NewFeedback:
    kind: FeedbackKind
    channel: str
    text: str
    received_at: datetime
    category: str | None = None
    department_code: str | None = None
    staff_id: str | None = None
    patient_id: str | None = None
    patient_name: str | None = None
    patient_phone: str | None = None
    # a hospital system's id (feedback.submitted), or the REST caller's (`access.opening_key`)
    external_id: str | None = None


def contact_of(patient: Any | None) -> dict[str, str | None]:
    """The patient fields of a `NewFeedback` from a patient as the REST body or the
    `feedback.submitted` event names one (or nobody)."""
    if patient is None:
        return {"patient_id": None, "patient_name": None, "patient_phone": None}
    return {
        "patient_id": patient.patient_id,
        "patient_name": patient.name,
        "patient_phone": patient.phone,
    }


def can_view_feedback(actor: Actor, row: Row) -> bool:
    """Like complaints: staff see what they recorded (and praise of themselves); supervisors
    their department's; operations (admin) everything."""
    if actor.role == "admin":
        return True
    if actor.role not in STAFF_ROLES:
        return False
    if actor.id in (row["recorded_by"], row["staff_id"]):
        return True
    return actor.role == "supervisor" and actor.department == row["department_code"]


async def record(
    conn: asyncpg.Connection,
    policy: FeedbackPolicy,
    new: NewFeedback,
    *,
    actor: Actor,
    now: datetime,
) -> Row:
    """Record praise or a suggestion. A member of staff it names must be active on the roster;
    praise of them goes to their department (from the roster) when the caller did not name one. One with an external id
    already recorded is returned as it is, with no event: a redelivery records nothing."""
    if new.external_id is not None:
        existing = await store.by_external_id(conn, "feedback", new.external_id)
        if existing is not None:
            return existing
    department = new.department_code
    if new.staff_id is not None:
        member = await roster.staff_member(conn, new.staff_id)
        if member is None or not member["active"]:
            raise UnknownPraisedStaff(f"{new.staff_id} is not an active member of staff")
        department = department or member["department_code"]
    row = await _insert(conn, policy, new, department=department, actor=actor, now=now)
    event = FeedbackReceived(
        feedback_number=row["feedback_number"],
        kind=row["kind"],
        channel=row["channel"],
        category=row["category"],
        department_code=department,
        staff_id=new.staff_id,
        recorded_by=actor.id,
        occurred_at=now,
    )
    await publish(
        conn, f"feedback.{new.kind.value}_received", event, subject=row["feedback_number"], at=now
    )
    return row


async def _insert(
    conn: asyncpg.Connection,
    policy: FeedbackPolicy,
    new: NewFeedback,
    *,
    department: str | None,
    actor: Actor,
    now: datetime,
) -> Row:
    """The feedback's row, numbered per kind and hospital-local day of receipt (never later
    than now), its category one of its kind's (else other)."""
    praise = new.kind is FeedbackKind.PRAISE
    allowed = policy.praise_categories if praise else policy.suggestion_categories
    received = min(new.received_at, now)
    number = await store.next_number(conn, "feedback_numbers")
    prefix = f"{policy.number_prefix}{'B' if praise else 'J'}"
    return await store.insert(
        conn,
        "feedback",
        {
            "feedback_number": f"{prefix}-{received.astimezone(policy.tz):%Y%m%d}-{number:06d}",
            "kind": new.kind.value,
            "channel": new.channel,
            "category": category_of(new.category, allowed),
            "text": new.text,
            "patient_id": new.patient_id,
            "patient_name": new.patient_name,
            "patient_phone": new.patient_phone,
            "department_code": department,
            "staff_id": new.staff_id,
            "recorded_by": actor.id,
            "received_at": received,
            "finished_at": received if praise else None,
            "external_id": new.external_id,
        },
    )


async def answer_suggestion(
    conn: asyncpg.Connection,
    number: str,
    *,
    text: str,
    outcome: SuggestionOutcome,
    actor: Actor,
    now: datetime,
) -> Row:
    """A suggestion's answer and outcome (adopted or not), given once by a supervisor of its
    department (or the one who recorded it)."""
    row = await store.by_number(conn, "feedback", number, for_update=True)
    if row is None:
        raise FeedbackNotFound(number)
    if actor.role not in STAFF_ROLES or not can_view_feedback(actor, row):
        raise NotPermitted(f"{actor.id} may not answer {number}")
    check_answer(FeedbackKind(row["kind"]), row["answered_at"] is not None)
    updated = await store.update(
        conn,
        "feedback",
        row["id"],
        {
            "answer": text,
            "outcome": outcome.value,
            "answered_by": actor.id,
            "answered_at": now,
            "finished_at": now,
        },
    )
    event = SuggestionAnswered(
        feedback_number=number,
        channel=row["channel"],
        category=row["category"],
        department_code=row["department_code"],
        outcome=outcome.value,
        answered_by=actor.id,
        occurred_at=now,
    )
    await publish(conn, "feedback.suggestion_answered", event, subject=number, at=now)
    return updated
