"""Opening a case: from a hospital system's or the follow-up service's event, or from staff at
a desk or on the phone. Classify, decide priority, assign, number, start the clocks, record,
publish: all in the caller's transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import asyncpg

from complaints import escalation, roster
from complaints import repository as repo
from complaints.access import Actor
from complaints.assignment import Assignment, assign, departments_for
from complaints.classifier import CategoryRule, Classification, RuleSet, classify
from complaints.domain import (
    OPENED_EVENT,
    InvalidField,
    Priority,
    Status,
    case_number,
    concerned_department,
    priority_for,
)
from complaints.policy import CasePolicy, Deadline
from complaints.publishing import publish_case_event
from complaints.repository import AuditEntry

Row = dict[str, Any]
Allocate = Callable[[date], Awaitable[int]]
# allocate_many({day: how many}) -> {day: the numbers}, in one short transaction of its own.
AllocateMany = Callable[[Mapping[date, int]], Awaitable[dict[date, range]]]


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


class _Patient(Protocol):
    @property
    def patient_id(self) -> str | None: ...
    @property
    def name(self) -> str | None: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def sms_opt_out(self) -> bool: ...


class _Department(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str | None: ...


def new_complaint(
    *,
    patient: _Patient | None,
    department: _Department | None,
    channel: str,
    external_id: str,
    description: str,
    submitted_at: datetime,
    **rest: Any,
) -> NewComplaint:
    """A complaint from an event's or a request's patient and department (either may be
    absent); `rest`: the other fields of `NewComplaint`."""
    return NewComplaint(
        channel=channel,
        external_id=external_id,
        description=description,
        submitted_at=submitted_at,
        patient_id=patient.patient_id if patient else None,
        patient_name=patient.name if patient else None,
        patient_phone=patient.phone if patient else None,
        sms_opt_out=patient.sms_opt_out if patient else False,
        department_code=department.code if department else None,
        department_name=department.name if department else None,
        **rest,
    )


def check_submitted(policy: CasePolicy, complaint: NewComplaint, now: datetime) -> None:
    """A new case's `submitted_at` lies within `policy.oldest_submission` of now: an older one
    (a typo, a wrong year) would breach every limit at once, page staff and spoil the KPIs."""
    if complaint.submitted_at < now - policy.oldest_submission:
        days = policy.oldest_submission / timedelta(days=1)
        raise InvalidField(
            "submitted_at",
            f"submitted_at {complaint.submitted_at.isoformat()} is more than {days:g} days ago",
        )


def clock_start(complaint: NewComplaint, now: datetime) -> datetime:
    """The clocks start when the patient lodged the complaint (never in the future)."""
    return min(complaint.submitted_at, now)


def case_day(policy: CasePolicy, complaint: NewComplaint, now: datetime) -> date:
    """The hospital-local day in the case number: the day the complaint was lodged."""
    return clock_start(complaint, now).astimezone(policy.tz).date()


def numbers_allocator(pool: Callable[[], asyncpg.Pool | None]) -> AllocateMany:
    """Case numbers from the per-day counters, in their own short transaction (one statement
    for every day of a batch): the counter rows are locked for that statement, not for a whole
    opening, so the desk's openings never queue behind a batch of events. A number whose
    opening then fails is skipped, never reused."""

    async def allocate_many(counts: Mapping[date, int]) -> dict[date, range]:
        current = pool()
        assert current is not None
        async with current.acquire() as conn:
            last = await repo.next_case_sequences(conn, counts)
        return {day: range(last[day] - n + 1, last[day] + 1) for day, n in counts.items()}

    return allocate_many


def number_allocator(pool: Callable[[], asyncpg.Pool | None]) -> Allocate:
    """One case number at a time (see `numbers_allocator`)."""
    allocate_many = numbers_allocator(pool)

    async def allocate(day: date) -> int:
        return (await allocate_many({day: 1}))[day][0]

    return allocate


@dataclass(frozen=True, slots=True)
class Assessment:
    """What the hospital's rules make of a complaint before anyone is assigned."""

    verdict: Classification
    complex_: bool
    priority: Priority


def assess(
    policy: CasePolicy, rules: list[CategoryRule] | RuleSet, complaint: NewComplaint
) -> Assessment:
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
    priority = priority_for(serious=verdict.serious, complex_=complex_, category=verdict.category)
    return Assessment(verdict, complex_, priority)


def handled_in(policy: CasePolicy, complaint: NewComplaint, assessment: Assessment) -> str | None:
    """The department whose staff handle the case: radiology for an imaging dispute."""
    return concerned_department(
        assessment.verdict.category,
        complaint.department_code,
        radiology_department=policy.radiology_department,
    )


def case_row(
    policy: CasePolicy,
    complaint: NewComplaint,
    assessment: Assessment,
    assignment: Assignment,
    *,
    sequence: int,
    actor: Actor,
    now: datetime,
    day: date | None = None,
) -> Row:
    """The new case's row (the columns `repository.insert_cases` writes; `day`: its
    `case_day`, when already known)."""
    verdict = assessment.verdict
    day = case_day(policy, complaint, now) if day is None else day
    number = case_number(day, sequence, prefix=policy.case_number_prefix)
    return {
        "case_number": number,
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
        "complex": assessment.complex_,
        "priority": assessment.priority.value,
        "status": Status.RECEIVED.value,
        "assignee_id": assignment.assignee_id,
        "handling_department": assignment.handling_department,
        "supervisor_id": assignment.supervisor_id,
        "submitted_at": complaint.submitted_at,
        "opened_at": now,
        "opened_by": actor.id,
    }


def opening_deadlines(
    policy: CasePolicy,
    complaint: NewComplaint,
    assessment: Assessment,
    now: datetime,
    *,
    start: datetime | None = None,
) -> list[Deadline]:
    """The deadlines of a new case (`start`: its `clock_start`, when already known)."""
    return policy.opening_deadlines(
        clock_start(complaint, now) if start is None else start,
        complex_=assessment.complex_,
        category=assessment.verdict.category,
    )


def opened_audit(case: Row, complaint: NewComplaint, *, actor: Actor, now: datetime) -> AuditEntry:
    return AuditEntry(
        case["id"],
        at=now,
        actor_id=actor.id,
        actor_role=actor.role,
        action="opened",
        from_status=None,
        to_status=Status.RECEIVED.value,
        detail={
            "channel": complaint.channel,
            "classification": case["classification"],
            "assignee_id": case["assignee_id"],
            "supervisor_id": case["supervisor_id"],
        },
    )


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
    Many complaints at once: `batch_intake.open_cases`, same rules.
    """
    existing = await repo.case_by_external_id(conn, complaint.channel, complaint.external_id)
    if existing:
        return existing, False
    check_submitted(policy, complaint, now)
    assessment = assess(policy, rules, complaint)
    department = handled_in(policy, complaint, assessment)
    # numbered first: `allocate` takes a second connection of the pool, which must not be
    # waited for while this one holds the roster lock that a deactivation waits on
    sequence = await allocate(case_day(policy, complaint, now))
    workload = await roster.workload_to_open(conn, departments_for(policy, department))
    assignment = assign(policy, workload, department, serious=assessment.verdict.serious)
    row = case_row(
        policy, complaint, assessment, assignment, sequence=sequence, actor=actor, now=now
    )
    inserted = await repo.insert_cases(conn, [row])
    if not inserted:  # the same complaint raced in through another request
        again = await repo.case_by_external_id(conn, complaint.channel, complaint.external_id)
        assert again is not None
        return again, False
    case = inserted[0]
    deadlines = opening_deadlines(policy, complaint, assessment, now)
    await repo.insert_deadlines_many(conn, [(case["id"], 1, d) for d in deadlines])
    missing = sorted({y for d in deadlines for y in d.missing_years})
    if missing:  # as flag_missing_calendar set it, for the answer
        case = {**case, "calendar_missing_years": missing}
    await repo.append_audits(conn, [opened_audit(case, complaint, actor=actor, now=now)])
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
    return await escalation.escalate_on_opening(conn, policy, case, now=now), True
