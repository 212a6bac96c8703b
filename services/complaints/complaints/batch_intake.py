"""Opening many cases at once (a batch of `complaint.submitted` events): the same rules as
`intake.open_case`, in a handful of statements per batch instead of ~10 per case.

The batch's complaints are opened in order, exactly as one after the other would open them:
the second complaint of a (channel, external id) finds the first one's case; each assignment
counts the cases assigned earlier in the batch; each day's case numbers follow the order of
the complaints. (With `consumer_concurrency` > 1 a consumed batch comes here in parts, by
partition, at the same time: each part is opened so, but one part's assignments do not see
the other's until it commits, and the two parts' numbers interleave.) The case numbers are
taken in one short transaction of their own (see `intake.numbers_allocator`) before the
cases are written in the caller's transaction.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

import asyncpg

from complaints import escalation, roster
from complaints import repository as repo
from complaints.access import Actor
from complaints.assignment import Assignment, assign, departments_for
from complaints.classifier import CategoryRule, RuleSet
from complaints.domain import OPENED_EVENT
from complaints.intake import (
    AllocateMany,
    Assessment,
    NewComplaint,
    assess,
    case_row,
    clock_start,
    handled_in,
    opened_audit,
    opening_deadlines,
)
from complaints.policy import CasePolicy, Deadline
from complaints.publishing import Outgoing, case_event
from complaints.repository import AuditEntry
from hospital_shared.outbox import add_encoded_to_outbox

Row = dict[str, Any]
T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True, slots=True)
class Submission:
    complaint: NewComplaint
    actor: Actor


@dataclass(frozen=True, slots=True)
class _Opening:
    submission: Submission
    assessment: Assessment
    assignment: Assignment
    start: datetime  # when its clocks start (`intake.clock_start`)
    day: date  # the hospital-local day of its number (`intake.case_day`)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one submission: the case it opened, or the one it already had."""

    submission: Submission
    case_number: str
    created: bool


async def open_cases(
    conn: asyncpg.Connection,
    policy: CasePolicy,
    rules: list[CategoryRule],
    submissions: Sequence[Submission],
    *,
    allocate_many: AllocateMany,
    now: datetime,
) -> list[Outcome]:
    """Open a case for each submission that has none yet, in order; one outcome each."""
    keys = [(s.complaint.channel, s.complaint.external_id) for s in submissions]
    known = await repo.case_numbers_by_external_id(conn, set(keys))
    fresh: dict[tuple[str, str], Submission] = {}
    for key, submission in zip(keys, submissions, strict=True):
        if key not in known:
            fresh.setdefault(key, submission)  # a second one in the batch finds the first's
    openings, taken = await _plan(
        conn, policy, rules, list(fresh.values()), allocate_many=allocate_many, now=now
    )
    opened = await _write(conn, policy, openings, taken, now=now)
    outcomes = []
    for key, submission in zip(keys, submissions, strict=True):
        created = key in opened and fresh[key] is submission
        number = opened.get(key) or known.get(key)
        if number is None:  # lost a race with another instance or the desk: look it up
            number = (await repo.case_numbers_by_external_id(conn, {key}))[key]
        outcomes.append(Outcome(submission, number, created))
    return outcomes


async def _plan(
    conn: asyncpg.Connection,
    policy: CasePolicy,
    rules: list[CategoryRule],
    submissions: list[Submission],
    *,
    allocate_many: AllocateMany,
    now: datetime,
) -> tuple[list[_Opening], dict[date, range]]:
    """Classify and assign, in order, from one read of the roster and its open cases; and
    take the case numbers. The complaints are classified while PostgreSQL reads the roster,
    and assigned while the numbers are taken (`_overlapped`; on a connection of their own)."""
    if not submissions:
        return [], {}
    departments = {
        d for s in submissions for d in departments_for(policy, s.complaint.department_code)
    }
    ruleset = RuleSet(rules)
    # Imaging disputes go to radiology, whatever department they name.
    workload, assessments = await _overlapped(
        roster.workload(conn, departments | {policy.radiology_department}),
        lambda: [assess(policy, ruleset, s.complaint) for s in submissions],
    )
    starts = [clock_start(s.complaint, now) for s in submissions]
    days = [start.astimezone(policy.tz).date() for start in starts]
    taken, assignments = await _overlapped(
        allocate_many(Counter(days)),
        lambda: [
            assign(
                policy,
                workload,
                handled_in(policy, s.complaint, assessment),
                serious=assessment.verdict.serious,
            )
            for s, assessment in zip(submissions, assessments, strict=True)
        ],
    )
    openings = [
        _Opening(*planned)
        for planned in zip(submissions, assessments, assignments, starts, days, strict=True)
    ]
    return openings, taken


async def _write(
    conn: asyncpg.Connection,
    policy: CasePolicy,
    openings: list[_Opening],
    taken: dict[date, range],
    *,
    now: datetime,
) -> dict[tuple[str, str], str]:
    """Number, insert, start the clocks, record and publish; (channel, external id) -> case
    number of the cases opened. While PostgreSQL runs a statement, the service makes what
    the next ones write (`_overlapped`): the deadlines and `opened` events during the cases'
    insert (neither needs what it gives back, the ids), the audit lines during the
    deadlines' write, their JSON during the outbox's."""
    if not openings:
        return {}
    rows = _numbered_rows(policy, openings, taken, now)
    by_number = {row["case_number"]: o for row, o in zip(rows, openings, strict=True)}
    cases, planned = await _overlapped(
        repo.insert_new_cases(conn, rows),
        lambda: {
            row["case_number"]: _records(policy, {**row, **NEW_CASE}, o, now)
            for row, o in zip(rows, openings, strict=True)
        },
    )
    if not cases:  # each lost a race with another instance or the desk
        return {}
    records = [
        planned[case["case_number"]]
        if case["cycle"] == NEW_CASE["cycle"]
        else _records(policy, case, by_number[case["case_number"]], now)
        for case in cases
    ]
    deadlines = []
    for case, r in zip(cases, records, strict=True):
        for d, limit in zip(r.deadlines, r.limits, strict=True):
            deadlines.append((case["id"], case["cycle"], d))
            limit["case_id"] = case["id"]
    _, audits = await _overlapped(
        repo.write_new_deadlines(conn, deadlines, [x for r in records for x in r.limits]),
        lambda: [_opened_audit(case, by_number[case["case_number"]], now) for case in cases],
    )
    _, text = await _overlapped(
        add_encoded_to_outbox(conn, [r.event for r in records]), lambda: repo.audits_json(audits)
    )
    await repo.write_audits(conn, text)
    # serious cases and medical disputes go to the director at once
    await escalation.escalate_opened_cases(conn, policy, cases, now=now)
    return {(case["channel"], case["external_id"]): case["case_number"] for case in cases}


# What a new case's row has beside the columns written (its other columns keep defaults).
NEW_CASE: Row = {"cycle": 1, "resolution_kind": None}


@dataclass(frozen=True, slots=True)
class _Records:
    """What opening one case writes beside its row: its deadlines, their rows as PostgreSQL
    gives them back (the case id filled in once known) and its `opened` event."""

    deadlines: list[Deadline]
    limits: list[Row]
    event: Outgoing


def _records(policy: CasePolicy, case: Row, opening: _Opening, now: datetime) -> _Records:
    """`case`: its row as inserted, or as it will be (`NEW_CASE`); its id is not needed."""
    deadlines = _deadlines(policy, opening, now)
    limits = [repo.new_deadline_row(None, case["cycle"], d) for d in deadlines]
    complaint, actor = opening.submission.complaint, opening.submission.actor
    event = case_event(
        OPENED_EVENT,
        case,
        sorted(limits, key=lambda d: d["due_at"]),
        previous=None,
        actor_id=actor.id,
        actor_role=actor.role,
        at=now,
        correlation_id=complaint.correlation_id,
    )
    return _Records(deadlines, limits, event)


def _opened_audit(case: Row, opening: _Opening, now: datetime) -> AuditEntry:
    complaint, actor = opening.submission.complaint, opening.submission.actor
    return opened_audit(case, complaint, actor=actor, now=now)


async def _overlapped(statement: Awaitable[T], work: Callable[[], U]) -> tuple[T, U]:
    """`statement`'s result and `work()`'s, `work` (the service's CPU, which must not use the
    connection) done while PostgreSQL runs the statement instead of after it: one step of
    the event loop sends it (a prepared statement needs no other round trip)."""
    running = asyncio.ensure_future(statement)
    try:
        await asyncio.sleep(0)  # the statement is sent
        done = work()
    finally:  # never leaves it running: the caller's transaction goes on (or rolls back)
        result = await running
    return result, done


def _numbered_rows(
    policy: CasePolicy, openings: list[_Opening], taken: Any, now: datetime
) -> list[Row]:
    """The cases' rows, each with the next number its day took (in the order they came)."""
    numbers = {day: iter(sequences) for day, sequences in taken.items()}
    return [
        case_row(
            policy,
            o.submission.complaint,
            o.assessment,
            o.assignment,
            sequence=next(numbers[o.day]),
            actor=o.submission.actor,
            now=now,
            day=o.day,
        )
        for o in openings
    ]


def _deadlines(policy: CasePolicy, opening: _Opening, now: datetime) -> list[Deadline]:
    complaint = opening.submission.complaint
    return opening_deadlines(policy, complaint, opening.assessment, now, start=opening.start)
