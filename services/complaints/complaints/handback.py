"""A member of staff made inactive hands back their open cases. Cases are assigned only to
active staff, so a case assigned before the member left would otherwise sit with nobody who
will answer it until its time limits breach. In the transaction that saves the roster change,
each of their cases not yet finished goes where a new case of its department would go now
(`assignment.assign`: the least-loaded active agent or doctor of the department handling it,
else of the complaint desk; a serious case to the supervisor; with no handler, the
supervisor; with nobody at all, no one), recorded as a supervisor's reassignment is (audit
line `assigned` from/to, `complaint.case_assigned`), by the system and with the reason.
The open cases they supervise get the supervisor a new case of the department would get
(`assignment.supervisor_for`; none active: none, and the desk's supervisor hears of their
time limits, `timers.addressee`), audited as `supervisor_assigned` and announced the same way:
otherwise their time limits' warnings and breaches would be texted to someone who left. Their
open enquiries go back with the cases, the same way (`enquiry_handback.py`).

A member who stays active but is given a role that may not hold some of this work
(`assignment.duties_given_up`: operations hold none; only supervisors supervise) hands back
that part the same way, with reasons that say so; what the new role may hold stays theirs.
One who stays active but moves to another department hands back what they held for a
department no longer theirs (`handback_rules`, where the reasoning for each kind of work is).

A reopened case (a closed one was not handed back: it was not open then) goes the same way
when its handler is not active or it has none, and its supervisor when not active
(`reopened`), in the reopening's transaction, with the reopening's reason.

Once: the cases are handed back only when the member changes from active to inactive, or
changes role (`roster.upsert_staff`), and a case handed back is no longer theirs, so the same
change again finds nothing; each event's id is made from the case and the roster event, so a
replay of that event after a restore queues no second one. A staff action on one of the cases
at the same moment is waited for (its row is locked): a case it finished stays finished, one
it reassigned stays with whom it was given to. Openings and reopenings under way are waited
for too (`roster.ROSTER_LOCK_KEY`): one that read the roster before this change would
otherwise give the member a case after theirs were handed back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import structlog

from complaints import enquiry_handback, roster
from complaints import repository as repo
from complaints.access import SYSTEM
from complaints.assignment import (
    Assignment,
    Workload,
    assign,
    departments_for,
    supervisor_for,
)
from complaints.domain import ASSIGNED_EVENT, Category, concerned_department
from complaints.handback_rules import (
    DEACTIVATED,
    DEACTIVATION,
    REOPENED,
    SUPERVISOR_GONE,
    GivenUp,
    Notes,
)
from complaints.policy import CasePolicy
from complaints.publishing import once_per_case_id
from complaints.recording import record_change

log = structlog.get_logger(__name__)
Row = dict[str, Any]

# $2: those they handle, $3: those they supervise.
_OPEN_CASES_OF = (
    "SELECT * FROM cases WHERE ((assignee_id = $1 AND $2) OR (supervisor_id = $1 AND $3))"
    " AND finished_at IS NULL ORDER BY id FOR UPDATE"
)


def department_of(policy: CasePolicy, case: Row) -> str | None:
    """The department whose staff take the case over: the one handling it now (a supervisor's
    reassignment may have moved it there), else the one a new case of it would go to."""
    return case["handling_department"] or concerned_department(
        Category(case["category"]),
        case["department_code"],
        radiology_department=policy.radiology_department,
    )


def case_given_up(
    policy: CasePolicy, case: Row, staff_id: str, given_up: GivenUp
) -> tuple[bool, bool]:
    """(its handler changes, its supervisor changes): what `staff_id` gives up of `case`, both
    held for the department it is handled for (`department_of`)."""
    department = department_of(policy, case)
    return given_up.holds(
        staff_id, holder=case["assignee_id"], supervisor=case["supervisor_id"],
        held_for=department, supervised_for=department,
    )  # fmt: skip


def taking_over(policy: CasePolicy, workload: Workload, case: Row) -> Assignment:
    """Who takes `case` over, from the active staff (`workload`, which it adds the case to)."""
    return assign(policy, workload, department_of(policy, case), serious=case["serious"])


def supervising(policy: CasePolicy, workload: Workload, case: Row) -> str | None:
    """Who supervises `case` from the active staff, as a new case of its department would get."""
    return supervisor_for(departments_for(policy, department_of(policy, case)), workload)[0]


def handback_change(case: Row, chosen: Assignment, notes: Notes = DEACTIVATED) -> tuple[Row, Row]:
    """The case's new columns and its audit detail. With nobody to take it the case is left
    unassigned, as a new case with nobody on the roster is, but keeps its handling department,
    whose supervisors go on seeing it."""
    if chosen.assignee_id is None:
        changes: Row = {"assignee_id": None}
        reason = notes[1]
    else:
        changes = {
            "assignee_id": chosen.assignee_id,
            "handling_department": chosen.handling_department,
        }
        reason = notes[0]
    detail = {"from": case["assignee_id"], "to": chosen.assignee_id, "reason": reason.value}
    return changes, detail


def supervisor_change(
    case: Row, supervisor: str | None, notes: Notes = SUPERVISOR_GONE
) -> tuple[Row, Row]:
    """The case's new supervisor and the audit detail. None: no supervisor is active, and the
    alerts of its time limits go to the desk's supervisor (`timers.addressee`), not to one who
    left."""
    reason = notes[0] if supervisor else notes[1]
    detail = {"from": case["supervisor_id"], "to": supervisor, "reason": reason.value}
    return {"supervisor_id": supervisor}, detail


def handback_event_id(case: Row, roster_event_id: str, to: str | None) -> str:
    """One roster change (or survey answer reopening the case) hands a case back once, to
    `to`: the same id when that change comes again and gives it to the same person. A replay after a restore that gives it to someone
    else (the workload read differently) announces that under an id of its own, which the
    next consumer's inbox does not take for the first."""
    return once_per_case_id(ASSIGNED_EVENT, case, "handed_back", roster_event_id, to or "-")


def supervisor_event_id(case: Row, roster_event_id: str, to: str | None) -> str:
    """The same for the case's supervisor, when the member made inactive supervised it."""
    return once_per_case_id(
        ASSIGNED_EVENT, case, "supervisor_handed_back", roster_event_id, to or "-"
    )


async def hand_back_open_cases(
    conn: asyncpg.Connection,
    policy: CasePolicy,
    staff_id: str,
    *,
    roster_event_id: str,
    correlation_id: str | None,
    now: datetime,
    given_up: GivenUp = DEACTIVATION,
) -> int:
    """Give what `staff_id` (made inactive in this transaction, or given a role that may not
    hold it) handles or supervises of the open cases and enquiries to whoever takes it over,
    and announce it; how many cases and enquiries. Their cases, then their enquiries, are
    locked first, then the roster (openings lock in that order too: a patient merge moves cases
    before a batch opens new ones), then read again for those given them meanwhile."""
    handled, supervised = given_up.flags()
    await conn.fetch(_OPEN_CASES_OF, staff_id, handled, supervised)
    await enquiry_handback.open_enquiries_of(conn, staff_id, given_up.duties)
    await conn.execute(f"SELECT pg_advisory_xact_lock({roster.ROSTER_LOCK_KEY})")
    cases = [
        c
        for r in await conn.fetch(_OPEN_CASES_OF, staff_id, handled, supervised)
        if any(case_given_up(policy, c := repo.opened_case(r), staff_id, given_up))
    ]
    enquiries = [
        q
        for q in await enquiry_handback.open_enquiries_of(conn, staff_id, given_up.duties)
        if any(enquiry_handback.given_up_of(policy, q, staff_id, given_up))
    ]
    await _hand_back_cases(
        conn, policy, cases, staff_id, given_up=given_up, roster_event_id=roster_event_id,
        correlation_id=correlation_id, now=now,
    )  # fmt: skip
    handed = await enquiry_handback.hand_back(
        conn, policy, enquiries, staff_id, given_up=given_up,
        roster_event_id=roster_event_id, correlation_id=correlation_id, now=now,
    )  # fmt: skip
    for before, after in handed:
        log_handback(before, after, staff_id=staff_id, roster_event_id=roster_event_id)
    return len(cases) + len(enquiries)


async def _hand_back_cases(
    conn: asyncpg.Connection,
    policy: CasePolicy,
    cases: list[Row],
    staff_id: str,
    *,
    given_up: GivenUp,
    roster_event_id: str,
    correlation_id: str | None,
    now: datetime,
) -> None:
    if not cases:
        return
    workload = await roster.workload(
        conn, {d for c in cases for d in departments_for(policy, department_of(policy, c))}
    )
    for case in cases:
        handler, supervisor = case_given_up(policy, case, staff_id, given_up)
        after = await hand_over(
            conn, policy, workload, case, handler=handler, supervisor=supervisor,
            notes=given_up.handler, supervisor_notes=given_up.supervisor, cause_id=roster_event_id,
            correlation_id=correlation_id, now=now,
        )  # fmt: skip
        log_handback(case, after, staff_id=staff_id, roster_event_id=roster_event_id)


async def reopened(
    conn: asyncpg.Connection,
    policy: CasePolicy,
    case: Row,
    *,
    now: datetime,
    cause_id: str | None = None,
) -> Row:
    """`case`, reopened in this transaction, taken over when its handler is not active on the
    roster or it has none, and its supervisor replaced when not active; the case as it now is.
    The roster is read as an opening reads it (under its lock held shared): a deactivation under
    way finishes first, one after it hands this case back. Its events' ids are made as the
    reopening's are (`cases.transition`): from the survey answer that reopened it (`cause_id`),
    else their own (a staff step)."""
    active = await roster.active_among(conn, [case["assignee_id"], case["supervisor_id"]])
    handler = case["assignee_id"] not in active
    supervisor = case["supervisor_id"] is not None and case["supervisor_id"] not in active
    if not (handler or supervisor):
        return case
    workload = await roster.workload(conn, departments_for(policy, department_of(policy, case)))
    return await hand_over(
        conn, policy, workload, case, handler=handler, supervisor=supervisor, notes=REOPENED,
        now=now, cause_id=cause_id,
    )  # fmt: skip


async def hand_over(
    conn: asyncpg.Connection,
    policy: CasePolicy,
    workload: Workload,
    case: Row,
    *,
    handler: bool,
    supervisor: bool,
    notes: Notes,
    now: datetime,
    cause_id: str | None = None,
    supervisor_notes: Notes = SUPERVISOR_GONE,
    correlation_id: str | None = None,
) -> Row:
    """Record a new handler for `case` (`handler`: its own is not active), then a new supervisor
    (`supervisor`: likewise), each with its audit line and `complaint.case_assigned` (ids from
    the case, the event that caused it, `cause_id` (the roster change, the survey answer that
    reopened the case), and who takes over; without one, ids of their own); the case as it now
    is. A new handler brings the supervisor a new case would get with them; a case that had no
    handler and finds none is left as it is."""
    chosen = taking_over(policy, workload, case) if handler else None
    if chosen is not None:
        changes, detail = handback_change(case, chosen, notes)
        if detail["from"] != detail["to"]:
            once = cause_id and handback_event_id(case, cause_id, detail["to"])
            case = await record_change(
                conn, case, changes, action="assigned", event_type=ASSIGNED_EVENT, detail=detail,
                actor=SYSTEM, now=now, event_id=once or None, correlation_id=correlation_id,
            )  # fmt: skip
    new_supervisor = case["supervisor_id"]
    if supervisor:
        new_supervisor = chosen.supervisor_id if chosen else supervising(policy, workload, case)
    # Chosen again (a supervisor moved into the desk, a case of a department with none): the
    # same supervisor, nothing to write.
    if new_supervisor != case["supervisor_id"]:
        changes, detail = supervisor_change(case, new_supervisor, supervisor_notes)
        once = cause_id and supervisor_event_id(case, cause_id, new_supervisor)
        case = await record_change(
            conn, case, changes, action="supervisor_assigned", event_type=ASSIGNED_EVENT,
            detail=detail, actor=SYSTEM, now=now, event_id=once or None,
            correlation_id=correlation_id,
        )  # fmt: skip
    return case


# What a log line names of a case and of an enquiry: its number, its holder, their department.
_LOGGED = {
    "case": ("case_number", "assignee_id", "handling_department"),
    "enquiry": ("enquiry_number", "owner_id", "owner_department"),
}


def log_handback(before: Row, after: Row, *, staff_id: str, roster_event_id: str) -> None:
    """One line a case or an enquiry: a warning when nobody could take the member's place on
    it (a case with no handler, an enquiry with no owner, waits for a supervisor)."""
    kind = "enquiry" if "enquiry_number" in before else "case"
    number, holder, department = _LOGGED[kind]
    fields = {
        number: before[number], "staff_id": staff_id, "to": after[holder],
        "supervisor": after["supervisor_id"], "department": after[department],
        "roster_event_id": roster_event_id,
    }  # fmt: skip
    left = [before[c] == staff_id and after[c] is None for c in (holder, "supervisor_id")]
    if any(left):
        log.warning(f"{kind} handed back: nobody active to take the member's place", **fields)
    else:
        log.info(f"{kind} handed back to another member", **fields)
