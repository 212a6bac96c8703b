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

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

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
    check_submitted,
    clock_start,
    handled_in,
    opened_audit,
    opening_deadlines,
)
from complaints.policy import CasePolicy, Deadline
from complaints.publishing import case_event
from hospital_shared.outbox import add_encoded_to_outbox

Row = dict[str, Any]


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
    for submission in fresh.values():  # the consumer dead-letters such an event alone
        check_submitted(policy, submission.complaint, now)
    # Numbered before the roster is read under its lock (`_plan`): `allocate_many` takes a
    # second connection of the pool, which must not be waited for while this one holds the
    # lock a deactivation waits on (the openings queued behind it would hold the rest).
    days = Counter(
        clock_start(s.complaint, now).astimezone(policy.tz).date() for s in fresh.values()
    )
    taken = await allocate_many(days) if days else {}
    openings = await _plan(conn, policy, rules, list(fresh.values()), now)
    opened = await _write(conn, policy, openings, taken=taken, now=now)
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
    now: datetime,
) -> list[_Opening]:
    """Classify and assign, in order, from one read of the roster and its open cases."""
    if not submissions:
        return []
    departments = {
        d for s in submissions for d in departments_for(policy, s.complaint.department_code)
    }
    # Imaging disputes go to radiology, whatever department they name.
    workload = await roster.workload_to_open(conn, departments | {policy.radiology_department})
    ruleset = RuleSet(rules)
    openings = []
    for s in submissions:
        assessment = assess(policy, ruleset, s.complaint)
        assignment = assign(
            policy,
            workload,
            handled_in(policy, s.complaint, assessment),
            serious=assessment.verdict.serious,
        )
        start = clock_start(s.complaint, now)
        day = start.astimezone(policy.tz).date()
        openings.append(_Opening(s, assessment, assignment, start, day))
    return openings


async def _write(
    conn: asyncpg.Connection,
    policy: CasePolicy,
    openings: list[_Opening],
    *,
    taken: Any,
    now: datetime,
) -> dict[tuple[str, str], str]:
    """Number (from `taken`, the numbers each day took), insert, start the clocks, record and
    publish; (channel, external id) -> case number of the cases opened."""
    if not openings:
        return {}
    rows = _numbered_rows(policy, openings, taken, now)
    by_number = {row["case_number"]: o for row, o in zip(rows, openings, strict=True)}
    cases = await repo.insert_new_cases(conn, rows)
    deadline_rows = await repo.insert_deadlines_many(
        conn,
        [
            (case["id"], case["cycle"], d)
            for case in cases
            for d in _deadlines(policy, by_number[case["case_number"]], now)
        ],
        read_back=False,
    )
    deadlines_by_case: dict[int, list[Row]] = {}
    for d in sorted(deadline_rows, key=lambda d: d["due_at"]):
        deadlines_by_case.setdefault(d["case_id"], []).append(d)
    await _record_openings(conn, cases, by_number, deadlines_by_case, now=now)
    # serious cases and medical disputes go to the director at once
    await escalation.escalate_opened_cases(conn, policy, cases, deadlines_by_case, now=now)
    return {(case["channel"], case["external_id"]): case["case_number"] for case in cases}


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


async def _record_openings(
    conn: asyncpg.Connection,
    cases: list[Row],
    by_number: dict[str, _Opening],
    deadlines_by_case: dict[int, list[Row]],
    *,
    now: datetime,
) -> None:
    """Each opened case's audit entry and its `opened` event (through the outbox)."""
    audits = []
    events = []
    for case in cases:
        opening = by_number[case["case_number"]]
        complaint, actor = opening.submission.complaint, opening.submission.actor
        audits.append(opened_audit(case, complaint, actor=actor, now=now))
        events.append(
            case_event(
                OPENED_EVENT,
                case,
                deadlines_by_case.get(case["id"], []),
                previous=None,
                actor_id=actor.id,
                actor_role=actor.role,
                at=now,
                correlation_id=complaint.correlation_id,
            )
        )
    await repo.append_audits(conn, audits)
    await add_encoded_to_outbox(conn, events)


def _deadlines(policy: CasePolicy, opening: _Opening, now: datetime) -> list[Deadline]:
    complaint = opening.submission.complaint
    return opening_deadlines(policy, complaint, opening.assessment, now, start=opening.start)
