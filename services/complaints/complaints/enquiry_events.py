"""Outgoing events about enquiries and feedback, queued in the outbox in the same transaction
as the change they report; keyed by the enquiry's or the feedback's number."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
from pydantic import BaseModel

from complaints.access import Actor
from hospital_shared import topics
from hospital_shared.codec import encode_new_event
from hospital_shared.outbox import add_encoded_to_outbox
from hospital_shared.service_events.enquiries import EnquiryChanged

SOURCE = "urn:hospital:complaints"
Row = dict[str, Any]


async def publish(
    conn: asyncpg.Connection,
    event_type: str,
    data: BaseModel,
    *,
    subject: str,
    at: datetime,
    event_id: str | None = None,
    correlation_id: str | None = None,
) -> None:
    """Queue one event about an enquiry or a piece of feedback, keyed by its number (`event_id`:
    the id of a change a replay makes again; without it, one of its own)."""
    event_id = event_id or str(uuid.uuid4())
    payload = encode_new_event(
        event_type, data, event_id=event_id, source=SOURCE, subject=subject, time=at,
        correlation_id=correlation_id,
    )  # fmt: skip
    await add_encoded_to_outbox(conn, [(event_id, topics.COMPLAINT_CASES, subject, payload)])


def changed(
    enquiry: Row, *, actor: Actor, at: datetime, previous_owner: str | None = None
) -> EnquiryChanged:
    return EnquiryChanged(
        enquiry_number=enquiry["enquiry_number"],
        status=enquiry["status"],
        channel=enquiry["channel"],
        complex=enquiry["complex"],
        department_code=enquiry["department_code"],
        owner_id=enquiry["owner_id"],
        owner_department=enquiry["owner_department"],
        previous_owner_id=previous_owner,
        taken_by=enquiry["taken_by"],
        supervisor_id=enquiry["supervisor_id"],
        limit=enquiry["limit_name"],
        starts_at=enquiry["taken_at"],
        due_at=enquiry["due_at"],
        answered_at=enquiry["answered_at"],
        answered_in_time=enquiry["answered_in_time"],
        case_number=enquiry["case_number"],
        actor_id=actor.id,
        actor_role=actor.role,
        occurred_at=at,
    )
