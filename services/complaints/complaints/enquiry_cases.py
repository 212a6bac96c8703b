"""Use cases of enquiries (咨询): take, hand over with a reason, answer, turn into a complaint.

Each runs inside the caller's transaction: the enquiry's state, its history line and its
outgoing event (through the outbox) commit together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from complaints import enquiry_store as store
from complaints import repository as repo
from complaints import roster
from complaints.access import Actor
from complaints.classifier import CategoryRule
from complaints.enquiries import (
    EnquiryChannel,
    EnquiryLimit,
    EnquiryStatus,
    NotOwner,
    answered_in_time,
    can_work_enquiry,
    check_step,
    deadline_for,
    limit_for,
    may_own_enquiries,
)
from complaints.enquiry_events import changed, publish
from complaints.intake import Allocate, NewComplaint, open_case
from complaints.policy import CasePolicy
from hospital_shared.vocabulary import SystemNote

Row = dict[str, Any]


class EnquiryNotFound(LookupError):
    pass


class UnknownStaff(Exception):
    """The member of staff named is not active on the roster (HTTP 409)."""


class NotAnEnquiryOwner(Exception):
    """The colleague named for a hand-over cannot own this enquiry: their role may not work
    enquiries (the director, operations), or they own it already (HTTP 422 naming `to`)."""


class InactiveTaker(Exception):
    """The member taking an enquiry was made inactive on the roster (HTTP 403): their console
    session outlives the change, and no hand-back would ever run for what they took after it."""


def inactive_taker(staff_id: str) -> str:
    """The refusal's words (the console has them in Chinese: refusals.json)."""
    return f"{staff_id} is not active on the roster: an inactive member may not take an enquiry"


@dataclass(frozen=True)
class EnquiryPolicy:
    limits: tuple[EnquiryLimit, ...]
    warning_fraction: float
    desk_department: str
    number_prefix: str
    tz: ZoneInfo


@dataclass(frozen=True)
class NewEnquiry:
    channel: EnquiryChannel
    question: str
    complex_: bool
    taken_at: datetime
    department_code: str | None = None
    patient_id: str | None = None
    patient_name: str | None = None
    patient_phone: str | None = None
    external_id: str | None = None  # the REST caller's (`access.opening_key`)


async def supervisor_for(
    conn: asyncpg.Connection, desk: str, *departments: str | None
) -> str | None:
    """The supervisor of the first of `departments` that has one, else the desk's."""
    for department in (*departments, desk):
        if department and (
            found := await roster.least_loaded_staff(conn, department, ["supervisor"])
        ):
            return found
    return None


async def take(
    conn: asyncpg.Connection, policy: EnquiryPolicy, new: NewEnquiry, *, actor: Actor, now: datetime
) -> Row:
    """Record an enquiry taken by `actor`, who owns it from now on (首问负责). The clock starts
    when the patient asked (`taken_at`, never in the future). A member made inactive on the
    roster is refused; one not on it at all (as a case's opener, never rostered) may take one."""
    # The actor's row locked shared, as `hand_over` locks the new owner's: a deactivation under
    # way finishes first (and this refuses), one after it hands this enquiry back.
    member = await roster.staff_member(conn, actor.id, for_share=True)
    if member is not None and not member["active"]:
        raise InactiveTaker(inactive_taker(actor.id))
    start = min(new.taken_at, now)
    limit = limit_for(policy.limits, new.channel, complex_=new.complex_)
    due = deadline_for(limit, start, warning_fraction=policy.warning_fraction)
    owner_department = actor.department or (member["department_code"] if member else None)
    # Its supervisor is chosen as an opening's is: a deactivation under way finishes first, one
    # after it hands this enquiry back if its supervisor is the one who left.
    await roster.hold_shared(conn)
    number = await store.next_number(conn, "enquiry_numbers")
    enquiry = await store.insert(
        conn,
        "enquiries",
        {
            "enquiry_number": f"{policy.number_prefix}-{start.astimezone(policy.tz):%Y%m%d}-{number:06d}",
            "channel": new.channel.value,
            "complex": new.complex_,
            "question": new.question,
            "patient_id": new.patient_id,
            "patient_name": new.patient_name,
            "patient_phone": new.patient_phone,
            "department_code": new.department_code,
            "taken_by": actor.id,
            "owner_id": actor.id,
            "owner_department": owner_department,
            "supervisor_id": await supervisor_for(
                conn, policy.desk_department, new.department_code, owner_department
            ),
            "limit_name": limit.name,
            "taken_at": start,
            "warn_at": due.warn_at,
            "due_at": due.due_at,
            "external_id": new.external_id,
        },
    )
    detail = {"channel": new.channel.value, "limit": limit.name, "due_at": due.due_at}
    await _record(conn, "enquiry.taken", enquiry, actor=actor, at=now, detail=detail)
    return enquiry


async def _record(
    conn: asyncpg.Connection,
    event_type: str,
    enquiry: Row,
    *,
    actor: Actor,
    at: datetime,
    detail: Row,
    previous_owner: str | None = None,
) -> None:
    """The history line and the event of one step."""
    await store.add_history(
        conn,
        enquiry["id"],
        at=at,
        actor_id=actor.id,
        actor_role=actor.role,
        action=event_type.removeprefix("enquiry."),
        detail=detail,
    )
    data = changed(enquiry, actor=actor, at=at, previous_owner=previous_owner)
    await publish(conn, event_type, data, subject=enquiry["enquiry_number"], at=at)


async def locked(conn: asyncpg.Connection, number: str, actor: Actor, step: str) -> Row:
    """The enquiry, locked, once `actor` may take `step` on it."""
    enquiry = await store.by_number(conn, "enquiries", number, for_update=True)
    if enquiry is None:
        raise EnquiryNotFound(number)
    if not can_work_enquiry(actor, enquiry):
        raise NotOwner(f"{actor.id} does not own enquiry {number}")
    check_step(step, EnquiryStatus(enquiry["status"]))
    return enquiry


async def hand_over(
    conn: asyncpg.Connection,
    policy: EnquiryPolicy,
    number: str,
    *,
    to: str,
    reason: str,
    actor: Actor,
    now: datetime,
) -> Row:
    """Pass the enquiry to another member of staff, with the reason recorded; the new owner
    answers for it (and its running clock) from now on."""
    # The member's row locked shared before the enquiry, as `cases.reassign` does: a
    # deactivation of the member under way finishes first (and this refuses), one after it
    # waits and hands this enquiry back with their others (enquiry_handback.py).
    member = await roster.staff_member(conn, to, for_share=True)
    enquiry = await locked(conn, number, actor, "hand_over")
    if member is None or not member["active"]:
        raise UnknownStaff(f"{to} is not an active member of the roster")
    _check_new_owner(member, enquiry)
    await roster.hold_shared(conn)  # the supervisor is chosen as an opening chooses one
    supervisor = await supervisor_for(
        conn, policy.desk_department, enquiry["department_code"], member["department_code"]
    )
    updated = await store.update(
        conn,
        "enquiries",
        enquiry["id"],
        {
            "owner_id": to,
            "owner_department": member["department_code"],
            "supervisor_id": supervisor,
        },
    )
    detail = {"from": enquiry["owner_id"], "to": to, "reason": reason}
    await _record(
        conn,
        "enquiry.handed_over",
        updated,
        actor=actor,
        at=now,
        detail=detail,
        previous_owner=enquiry["owner_id"],
    )
    if supervisor != enquiry["supervisor_id"]:  # the written record of every step
        note = {"from": enquiry["supervisor_id"], "to": supervisor,
                "reason": SystemNote.SUPERVISOR_FOLLOWS_OWNER.value}  # fmt: skip
        await store.add_history(
            conn, enquiry["id"], at=now, actor_id=actor.id, actor_role=actor.role,
            action="supervisor_assigned", detail=note,
        )  # fmt: skip
    return updated


def _check_new_owner(member: Row, enquiry: Row) -> None:
    """Refuse a hand-over nobody could work on: to one whose role may not answer enquiries (as
    `can_work_enquiry` decides), or to its owner (a hand-over that hands nothing over)."""
    if not may_own_enquiries(member["role"]):
        role = member["role"]
        raise NotAnEnquiryOwner(
            f"{member['staff_id']} is a {role}: a {role} does not answer enquiries"
        )
    if member["staff_id"] == enquiry["owner_id"]:
        raise NotAnEnquiryOwner(f"{member['staff_id']} owns this enquiry already")


async def answer(
    conn: asyncpg.Connection, number: str, *, text: str, actor: Actor, now: datetime
) -> Row:
    """The answer given to the patient; stops the clock (in time or late)."""
    enquiry = await locked(conn, number, actor, "answer")
    updated = await store.update(
        conn,
        "enquiries",
        enquiry["id"],
        {
            "status": EnquiryStatus.ANSWERED.value,
            "answer": text,
            "answered_at": now,
            "answered_in_time": answered_in_time(enquiry["due_at"], now),
            "finished_at": now,
        },
    )
    detail = {"in_time": updated["answered_in_time"]}
    await _record(conn, "enquiry.answered", updated, actor=actor, at=now, detail=detail)
    return updated


async def mark_converted(
    conn: asyncpg.Connection, enquiry: Row, *, case_number: str, actor: Actor, now: datetime
) -> Row:
    """The enquiry became complaint case `case_number`: its clock stops, its history stays."""
    updated = await store.update(
        conn,
        "enquiries",
        enquiry["id"],
        {"status": EnquiryStatus.CONVERTED.value, "case_number": case_number, "finished_at": now},
    )
    detail = {"case_number": case_number}
    await _record(conn, "enquiry.converted", updated, actor=actor, at=now, detail=detail)
    return updated


async def convert(
    conn: asyncpg.Connection,
    case_policy: CasePolicy,
    rules: list[CategoryRule],
    number: str,
    *,
    note: str | None,
    allocate: Allocate,
    actor: Actor,
    now: datetime,
) -> tuple[Row, Row]:
    """Turn the enquiry into a complaint case: (the enquiry, the case). The case is opened as
    a desk complaint would be (classified, assigned, its clocks from now) and its audit trail
    starts with the enquiry's whole history; the enquiry keeps it too and points to the case.
    `allocate` hands out the case number, taken before this transaction (see `open_case`)."""
    enquiry = await locked(conn, number, actor, "convert")
    description = enquiry["question"] + (f"\n{note}" if note else "")
    complaint = NewComplaint(
        channel=enquiry["channel"],
        external_id=f"enquiry:{number}",
        description=description,
        submitted_at=now,
        patient_id=enquiry["patient_id"],
        patient_name=enquiry["patient_name"],
        patient_phone=enquiry["patient_phone"],
        department_code=enquiry["department_code"],
    )
    case, _ = await open_case(
        conn, case_policy, rules, complaint, allocate=allocate, actor=actor, now=now
    )
    history = await store.history_of(conn, enquiry["id"])
    await repo.append_audit(
        conn,
        case["id"],
        at=now,
        actor_id=actor.id,
        actor_role=actor.role,
        action="converted_from_enquiry",
        from_status=None,
        to_status=case["status"],
        detail={
            "enquiry_number": number,
            "taken_at": enquiry["taken_at"],
            "taken_by": enquiry["taken_by"],
            "history": history,
        },
    )
    converted = await mark_converted(
        conn, enquiry, case_number=case["case_number"], actor=actor, now=now
    )
    return converted, case
