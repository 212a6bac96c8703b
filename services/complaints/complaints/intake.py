"""Opening a case: from a hospital system's or the follow-up service's event, or from staff at
a desk or on the phone. Classify, decide priority, assign, number, start the clocks, record,
publish: all in the caller's transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from complaints import repository as repo
from complaints import roster
from complaints.access import HANDLER_ROLES, Actor
from complaints.classifier import CategoryRule, classify
from complaints.domain import OPENED_EVENT, Status, case_number, priority_for
from complaints.policy import CasePolicy, deadlines_for
from complaints.publishing import publish_case_event

Row = dict[str, Any]
Allocate = Callable[[date], Awaitable[int]]


@dataclass(frozen=True)
class NewComplaint:
    channel: str
    external_id: str
    description: str
    submitted_at: datetime
    patient_id: str | None = None
    patient_name: str | None = None
    patient_phone: str | None = None
    sms_opt_out: bool = False
    department_code: str | None = None
    department_name: str | None = None
    category: str | None = None
    complex: bool | None = None
    source_event_id: str | None = None
    correlation_id: str | None = None


def clock_start(complaint: NewComplaint, now: datetime) -> datetime:
    """The clocks start when the patient lodged the complaint (never in the future)."""
    return min(complaint.submitted_at, now)


def case_day(policy: CasePolicy, complaint: NewComplaint, now: datetime) -> date:
    """The hospital-local day in the case number: the day the complaint was lodged."""
    return clock_start(complaint, now).astimezone(policy.tz).date()


def number_allocator(pool: Callable[[], asyncpg.Pool | None]) -> Allocate:
    """Case numbers from the per-day counter, each in its own short transaction: the counter
    row is locked for one statement, not for a whole opening. A number whose opening then
    fails is skipped, never reused."""

    async def allocate(day: date) -> int:
        current = pool()
        assert current is not None
        async with current.acquire() as conn:
            return await repo.next_case_sequence(conn, day)

    return allocate


async def assign(
    conn: asyncpg.Connection, policy: CasePolicy, department: str | None, *, serious: bool
) -> tuple[str | None, str | None, str | None]:
    """(assignee, handling department, supervisor).

    A handler (agent or doctor) of the department concerned, the least loaded; when that
    department has none on the roster, one of the complaint desk. The supervisor is the
    department's, else the desk's. Serious cases go to that supervisor at once.
    """
    departments = [d for d in (department, policy.desk_department) if d]
    supervisor = supervisor_dept = None
    for dept in departments:
        supervisor = await roster.least_loaded_staff(conn, dept, ["supervisor"])
        if supervisor:
            supervisor_dept = dept
            break
    if serious and supervisor:
        return supervisor, supervisor_dept, supervisor
    for dept in departments:
        handler = await roster.least_loaded_staff(conn, dept, list(HANDLER_ROLES))
        if handler:
            return handler, dept, supervisor
    return supervisor, supervisor_dept, supervisor


async def open_case(
    conn: asyncpg.Connection,
    policy: CasePolicy,
    rules: list[CategoryRule],
    complaint: NewComplaint,
    *,
    allocate: Allocate,
    actor: Actor,
    now: datetime,
) -> tuple[Row, bool]:
    """Open a case for `complaint`; (the existing case, False) when it was opened before.

    `allocate(day)` hands out the day's next case number; it must run outside this
    transaction (see `number_allocator`), or every opening would queue on the counter row.
    """
    existing = await repo.case_by_external_id(conn, complaint.channel, complaint.external_id)
    if existing:
        return existing, False
    verdict = classify(
        complaint.description,
        rules,
        submitted_category=complaint.category,
        serious_categories=policy.serious_categories,
    )
    complex_ = (
        complaint.complex
        if complaint.complex is not None
        else verdict.serious or verdict.category.value in policy.complex_categories
    )
    start = clock_start(complaint, now)
    assignee, handling, supervisor = await assign(
        conn, policy, complaint.department_code, serious=verdict.serious
    )
    local_day = case_day(policy, complaint, now)
    sequence = await allocate(local_day)
    case = await repo.insert_case(
        conn,
        {
            "case_number": case_number(local_day, sequence, prefix=policy.case_number_prefix),
            "channel": complaint.channel,
            "external_id": complaint.external_id,
            "source_event_id": complaint.source_event_id,
            "patient_id": complaint.patient_id,
            "patient_name": complaint.patient_name,
            "patient_phone": complaint.patient_phone,
            "sms_opt_out": complaint.sms_opt_out,
            "department_code": complaint.department_code,
            "department_name": complaint.department_name,
            "description": complaint.description,
            "submitted_category": complaint.category,
            "category": verdict.category.value,
            "category_source": verdict.source,
            "matched_rule_id": verdict.rule_id,
            "matched_keyword": verdict.keyword,
            "serious_rule_id": verdict.serious_rule_id,
            "serious_keyword": verdict.serious_keyword,
            "classification": verdict.explain(),
            "serious": verdict.serious,
            "complex": complex_,
            "priority": priority_for(
                serious=verdict.serious, complex_=complex_, category=verdict.category
            ).value,
            "status": Status.RECEIVED.value,
            "assignee_id": assignee,
            "handling_department": handling,
            "supervisor_id": supervisor,
            "submitted_at": complaint.submitted_at,
            "opened_at": now,
            "opened_by": actor.id,
        },
    )
    if case is None:  # the same complaint raced in through another request
        again = await repo.case_by_external_id(conn, complaint.channel, complaint.external_id)
        assert again is not None
        return again, False
    deadlines = deadlines_for(
        policy.limit_rules,
        start=start,
        complex_=complex_,
        category=verdict.category,
        tz=policy.tz,
        is_workday=policy.is_workday,
        warning_fraction=policy.warning_fraction,
    )
    await repo.insert_deadlines(conn, case["id"], 1, deadlines)
    await repo.append_audit(
        conn,
        case["id"],
        at=now,
        actor_id=actor.id,
        actor_role=actor.role,
        action="opened",
        from_status=None,
        to_status=Status.RECEIVED.value,
        detail={
            "channel": complaint.channel,
            "classification": verdict.explain(),
            "assignee_id": assignee,
            "supervisor_id": supervisor,
        },
    )
    await publish_case_event(
        conn,
        OPENED_EVENT,
        case,
        previous=None,
        actor_id=actor.id,
        actor_role=actor.role,
        at=now,
        correlation_id=complaint.correlation_id,
    )
    return case, True
