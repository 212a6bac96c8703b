"""Outgoing events: built from a case's row and deadlines, queued in the outbox in the same
transaction as the change they report."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
from pydantic import BaseModel

from complaints import repository
from complaints.domain import OPENED_EVENT
from complaints.policy import LimitName
from hospital_shared import topics
from hospital_shared.codec import encode_new_event
from hospital_shared.outbox import add_encoded_to_outbox
from hospital_shared.service_events.complaints import ComplaintCaseChanged
from hospital_shared.vocabulary import EventName

SOURCE = "urn:hospital:complaints"
Row = dict[str, Any]
Outgoing = tuple[str, str, str, bytes]  # (event id, topic, key, payload) for the outbox


def time_limits(deadlines: Sequence[Row], cycle: int) -> list[Row]:
    return [
        {
            "limit": d["limit_name"],
            "starts_at": d["starts_at"],
            "due_at": d["due_at"],
            "warn_at": d["warn_at"],
            "settled_at": d["settled_at"],
            "outcome": d["outcome"],
        }
        for d in deadlines
        if d["cycle"] == cycle
    ]


def _due(deadlines: Sequence[Row], cycle: int, limit: LimitName) -> datetime | None:
    for d in deadlines:
        if d["cycle"] == cycle and d["limit_name"] == limit.value:
            return d["due_at"]  # type: ignore[no-any-return]
    return None


def case_changed(
    case: Row,
    deadlines: Sequence[Row],
    *,
    previous_status: str | None,
    actor_id: str | None,
    actor_role: str | None,
    at: datetime,
) -> ComplaintCaseChanged:
    """The event's payload, checked against the contract in one validation (building the
    nested models one by one cost a sixth of a batch opening's CPU)."""
    patient = (
        {
            "patient_id": case["patient_id"],
            "phone": case["patient_phone"],
            "sms_opt_out": case["sms_opt_out"],
        }
        if case["patient_id"] or case["patient_phone"]
        else None
    )
    cycle = case["cycle"]
    return ComplaintCaseChanged.model_validate(
        {
            "case_number": case["case_number"],
            "status": case["status"],
            "previous_status": previous_status,
            "cycle": cycle,
            "channel": case["channel"],
            "category": case["category"],
            "category_source": case["category_source"],
            "priority": case["priority"],
            "serious": case["serious"],
            "complex": case["complex"],
            "department_code": case["department_code"],
            "assignee_id": case["assignee_id"],
            "supervisor_id": case["supervisor_id"],
            "patient": patient,
            "promised_response_by": _due(deadlines, cycle, LimitName.FIRST_RESPONSE),
            "resolution_kind": case["resolution_kind"],
            "satisfaction_check_due_at": _due(deadlines, cycle, LimitName.SATISFACTION_CHECK),
            "time_limits": time_limits(deadlines, cycle),
            "actor_id": actor_id,
            "actor_role": actor_role,
            "director_id": case.get("director_id"),
            "validity": case.get("validity"),
            "occurred_at": at,
        }
    )


# Case events that happen at most once per case and cycle: a replay numbers the case anew
# (case numbers follow the order of intake), so their ids are made from what the hospital gave.
ONCE_PER_CYCLE = frozenset({OPENED_EVENT, EventName.CASE_ESCALATED})

# Namespace of the ids of events that happen once per case (see `outgoing`).
_ONCE_PER_CASE = uuid.UUID("0f7d3c1e-52b4-4b8e-9a0c-6d2a41c9e7b3")


def once_per_case_id(event_type: str, case: Row, *parts: object) -> str:
    """The id of an event that happens once per case and `parts` (its opening; a time
    limit's warning or breach in a cycle): the same when a replay after a restore opens the
    case or fires the limit again, so the next consumer's inbox skips the second one. The
    case is named by its channel and external id, which the hospital gave, not by its case
    number, which the replay may number differently."""
    name = ":".join(str(p) for p in (event_type, case["channel"], case["external_id"], *parts))
    return uuid5_text(_ONCE_PER_CASE_BYTES, name)


_ONCE_PER_CASE_BYTES = _ONCE_PER_CASE.bytes


def caused_by_id(event_type: str, case: Row, cause_id: str | None, *parts: object) -> str | None:
    """The id of an event a message read from Kafka causes (`cause_id`, that message's id: a
    survey answer that reopens the case): the same when a replay after a restore reads it again
    and does the same, so the next consumer's inbox skips the second. None without one (a staff
    action over HTTP happens when it happens: its events get ids of their own)."""
    return cause_id and once_per_case_id(event_type, case, "caused_by", cause_id, *parts)


def uuid5_text(namespace: bytes, name: str) -> str:
    """`str(uuid.uuid5(UUID(bytes=namespace), name))` without building the UUID object
    (RFC 4122 4.3: SHA-1 of namespace and name, version 5, variant 10): a third of its CPU,
    once for every case opened."""
    h = bytearray(hashlib.sha1(namespace + name.encode()).digest()[:16])
    h[6] = (h[6] & 0x0F) | 0x50
    h[8] = (h[8] & 0x3F) | 0x80
    x = h.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def outgoing(
    event_type: str,
    data: BaseModel,
    *,
    case: Row,
    at: datetime,
    correlation_id: str | None = None,
    event_id: str | None = None,
) -> Outgoing:
    """One event about `case` as an outbox entry; keyed by patient (one patient's events stay
    in order), or by case number when the complaint is anonymous. Without `event_id`, a new
    random one (a staff action happens when it happens; it is not replayed)."""
    key = case["patient_id"] or case["case_number"]
    event_id = event_id or str(uuid.uuid4())
    payload = encode_new_event(
        event_type,
        data,
        event_id=event_id,
        source=SOURCE,
        subject=case["case_number"],
        time=at,
        correlation_id=correlation_id,
    )
    return event_id, topics.COMPLAINT_CASES, key, payload


def case_event(
    event_type: str,
    case: Row,
    deadlines: Sequence[Row],
    *,
    previous: str | None,
    actor_id: str,
    actor_role: str,
    at: datetime,
    correlation_id: str | None = None,
    event_id: str | None = None,
) -> Outgoing:
    """A `complaint.case_*` event showing the case as it now is, with its deadlines (rows of
    `case_deadlines`, in due order); `event_id`: the id of a change a replay makes again (see
    `outgoing`), else one of its own."""
    data = case_changed(
        case,
        deadlines,
        previous_status=previous,
        actor_id=actor_id,
        actor_role=actor_role,
        at=at,
    )
    # an opening, and the escalation to a director (at opening for a serious case or a medical
    # dispute, or later by a supervisor; never twice in a cycle), happen once per case and
    # cycle: their ids are the same when a replay after a restore does them again
    once = (
        once_per_case_id(event_type, case, case["cycle"])
        if event_type in ONCE_PER_CYCLE
        else event_id
    )
    return outgoing(
        event_type, data, case=case, at=at, correlation_id=correlation_id, event_id=once
    )


async def publish(
    conn: asyncpg.Connection,
    event_type: str,
    data: BaseModel,
    *,
    case: Row,
    at: datetime,
    correlation_id: str | None = None,
    event_id: str | None = None,
) -> None:
    """Queue one event about `case` (see `outgoing`)."""
    entry = outgoing(
        event_type, data, case=case, at=at, correlation_id=correlation_id, event_id=event_id
    )
    await add_encoded_to_outbox(conn, [entry])


async def publish_case_event(
    conn: asyncpg.Connection,
    event_type: str,
    case: Row,
    *,
    previous: str | None,
    actor_id: str,
    actor_role: str,
    at: datetime,
    correlation_id: str | None = None,
    event_id: str | None = None,
) -> None:
    """Queue a `complaint.case_*` event showing the case as it now is (see `case_event`)."""
    deadlines = await repository.deadlines_of(conn, case["id"], case["cycle"])
    entry = case_event(
        event_type,
        case,
        deadlines,
        previous=previous,
        actor_id=actor_id,
        actor_role=actor_role,
        at=at,
        correlation_id=correlation_id,
        event_id=event_id,
    )
    await add_encoded_to_outbox(conn, [entry])
