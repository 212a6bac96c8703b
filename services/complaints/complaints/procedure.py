"""Use cases for the rest of the complaint procedure (issue 21, DOMAIN.md): the validity
decision, escalation to the director, radiology's confirmation of an imaging dispute,
accountability for the staff directly responsible, the settlement agreement and the
confidentiality level. Each runs in the caller's transaction on the locked case, with its audit
line and event; the rules themselves are pure (`domain`, `access`)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from complaints import cases, escalation, roster
from complaints import repository as repo
from complaints.access import Actor, can_read_accountability, can_work
from complaints.domain import (
    DIRECTOR_ROLE,
    AccountabilityMeasure,
    Confidentiality,
    InvalidField,
    NotPermitted,
    Status,
    Validity,
    check_after_approval,
    check_escalation,
    check_imaging_confirmation,
    check_settlement,
    check_settlement_allowed,
    check_validity_decision,
)
from complaints.policy import CasePolicy, LimitName
from complaints.recording import record_change
from hospital_shared.field_crypto import open_, open_fields, seal

Row = dict[str, Any]
SUPERVISING = ("supervisor", DIRECTOR_ROLE)


async def _case_for(
    conn: asyncpg.Connection,
    number: str,
    actor: Actor,
    *,
    supervising: bool = False,
    expected_version: int | None = None,
) -> Row:
    case = await cases.locked_case(conn, number)
    if not can_work(actor, case):
        raise NotPermitted(f"{actor.id} does not work on case {number}")
    if supervising and actor.role not in SUPERVISING:
        raise NotPermitted("only a supervisor or the director may do this")
    cases.check_version(case, expected_version)
    return case


async def decide_validity(
    conn: asyncpg.Connection,
    policy: CasePolicy,
    number: str,
    *,
    founded: bool,
    reason: str,
    actor: Actor,
    now: datetime,
    expected_version: int | None = None,
) -> Row:
    """投诉是否成立. Unfounded: the case goes to `unfounded`, to be closed once the
    misunderstanding is cleared up with the patient (消除误会), never withdrawn."""
    case = await _case_for(conn, number, actor, expected_version=expected_version)
    check_validity_decision(Status(case["status"]))
    if not founded:
        return await cases.transition(
            conn, policy, number, to=Status.UNFOUNDED.value, actor=actor, now=now, note=reason
        )
    return await record_change(
        conn,
        case,
        {"validity": Validity.FOUNDED.value, "validity_reason": reason},
        action="validity_decided",
        event_type="complaint.case_validity_decided",
        detail={"validity": Validity.FOUNDED.value, "note": reason},
        actor=actor,
        now=now,
    )


async def escalate(
    conn: asyncpg.Connection,
    policy: CasePolicy,
    number: str,
    *,
    reason: str,
    actor: Actor,
    now: datetime,
    expected_version: int | None = None,
) -> Row:
    """A case the supervisor cannot settle goes to the director."""
    case = await _case_for(conn, number, actor, supervising=True, expected_version=expected_version)
    check_escalation(Status(case["status"]), escalated=case["director_id"] is not None)
    return await escalation.escalate(conn, policy, case, actor=actor, now=now, reason=reason)


async def confirm_imaging(
    conn: asyncpg.Connection,
    policy: CasePolicy,
    number: str,
    *,
    note: str | None,
    actor: Actor,
    now: datetime,
    expected_version: int | None = None,
) -> Row:
    """Radiology confirms an imaging dispute: the only thing that stops its 2-hour clock."""
    case = await _case_for(conn, number, actor, expected_version=expected_version)
    check_imaging_confirmation(
        category=case["category"],
        current=Status(case["status"]),
        confirmed=case["imaging_confirmed_at"] is not None,
        actor_department=actor.department,
        radiology_department=policy.radiology_department,
    )
    await repo.settle_deadlines(
        conn, case["id"], at=now, limits=[LimitName.IMAGING_CONFIRMATION.value]
    )
    return await record_change(
        conn,
        case,
        {"imaging_confirmed_at": now, "imaging_confirmed_by": actor.id},
        action="imaging_confirmed",
        event_type="complaint.case_imaging_confirmed",
        detail={"note": note},
        actor=actor,
        now=now,
    )


async def record_accountability(
    conn: asyncpg.Connection,
    number: str,
    *,
    staff_id: str,
    measure: AccountabilityMeasure,
    detail: str | None,
    actor: Actor,
    now: datetime,
    expected_version: int | None = None,
    record_key: str | None = None,
) -> Row:
    """处罚直接责任者: recorded by a supervisor or the director. The audit line and the event
    say only that a record was made; who and what are read through `accountability_of`.
    `record_key` (the sender's one-time key): a repeat of the same record answers the case
    and makes nothing again, before the version check (the first post moved the version); the
    same key with another record is refused."""
    case = await _case_for(conn, number, actor, supervising=True)
    record = (staff_id, measure.value, detail)
    if record_key is not None:
        earlier = await conn.fetchrow(
            "SELECT staff_id, measure, detail FROM case_accountability"
            " WHERE case_id = $1 AND record_key = $2",
            case["id"],
            record_key,
        )
        if (
            earlier is not None
            and (earlier["staff_id"], earlier["measure"], open_(earlier["detail"])) == record
        ):
            return case
        if earlier is not None:
            raise cases.CaseConflict(f"record key {record_key} was used for another record")
    # Held against someone on the roster (active or not: they may have left since).
    if await roster.staff_member(conn, staff_id) is None:
        raise InvalidField("staff_id", f"{staff_id} is not a member of staff on the roster")
    cases.check_version(case, expected_version)
    check_after_approval(Status(case["status"]), "accountability")
    record_id = await conn.fetchval(
        "INSERT INTO case_accountability (case_id, staff_id, measure, detail, recorded_by,"
        " recorded_at, record_key) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        case["id"],
        staff_id,
        measure.value,
        seal(detail),  # sealed at rest (repository.ACCOUNTABILITY_SEALED)
        actor.id,
        now,
        record_key,
    )
    return await record_change(
        conn,
        case,
        {},
        action="accountability_recorded",
        event_type="complaint.case_accountability_recorded",
        detail={"record_id": record_id},
        actor=actor,
        now=now,
    )


async def accountability_of(conn: asyncpg.Connection, number: str, actor: Actor) -> list[Row]:
    case = await repo.case_by_number(conn, number)
    if case is None:
        raise cases.CaseNotFound(number)
    if not can_read_accountability(actor, case):
        raise NotPermitted("accountability is for supervisors, the director and operations")
    rows = await conn.fetch(
        "SELECT id, staff_id, measure, detail, recorded_by, recorded_at"
        " FROM case_accountability WHERE case_id = $1 ORDER BY id",
        case["id"],
    )
    return [open_fields(r, repo.ACCOUNTABILITY_SEALED) for r in rows]


async def record_settlement(
    conn: asyncpg.Connection,
    policy: CasePolicy,
    number: str,
    *,
    amount: Decimal,
    signed_on: date,
    document_ref: str,
    actor: Actor,
    now: datetime,
    expected_version: int | None = None,
) -> Row:
    """和解协议: the sum agreed, the day it was signed and the signed document's reference."""
    case = await _case_for(conn, number, actor, expected_version=expected_version)
    check_settlement_allowed(
        Status(case["status"]),
        resolution_kind=case["resolution_kind"],
        recorded=case["settlement_signed_on"] is not None,
    )
    check_settlement(
        amount=amount,
        signed_on=signed_on,
        document_ref=document_ref,
        submitted_on=case["submitted_at"].astimezone(policy.tz).date(),
        today=now.astimezone(policy.tz).date(),
    )
    return await record_change(
        conn,
        case,
        {
            "settlement_amount": amount,
            "settlement_signed_on": signed_on,
            "settlement_document_ref": document_ref,
        },
        action="settlement_recorded",
        event_type="complaint.case_settlement_recorded",
        detail={"amount": str(amount), "signed_on": signed_on, "document_ref": document_ref},
        actor=actor,
        now=now,
    )


async def set_confidentiality(
    conn: asyncpg.Connection,
    number: str,
    *,
    level: Confidentiality,
    note: str | None,
    actor: Actor,
    now: datetime,
    expected_version: int | None = None,
) -> Row:
    """保密: a supervisor or the director narrows (or widens again) who reads the case's text."""
    case = await _case_for(conn, number, actor, supervising=True, expected_version=expected_version)
    return await record_change(
        conn,
        case,
        {"confidentiality": level.value},
        action="confidentiality_set",
        event_type=None,
        detail={"confidentiality": level.value, "note": note},
        actor=actor,
        now=now,
    )
