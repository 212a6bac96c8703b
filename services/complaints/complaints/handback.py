"""A member of staff made inactive hands back their open cases. Cases are assigned only to
active staff, so a case assigned before the member left would otherwise sit with nobody who
will answer it until its time limits breach. In the transaction that saves the roster change,
each of their cases not yet finished goes where a new case of its department would go now
(`assignment.assign`: the least-loaded active agent or doctor of the department handling it,
else of the complaint desk; a serious case to the supervisor; with no handler, the
supervisor; with nobody at all, no one), recorded as a supervisor's reassignment is (audit
line `assigned` from/to, `complaint.case_assigned`), by the system and with the reason.

Once: the cases are handed back only when the member changes from active to inactive
(`roster.upsert_staff`), and a case handed back is no longer theirs, so the same change again
finds nothing; each event's id is made from the case and the roster event, so a replay of
that event after a restore queues no second one. A staff action on one of the cases at the
same moment is waited for (its row is locked): a case it finished stays finished, one it
reassigned stays with whom it was given to. Openings under way are waited for too
(`roster.ROSTER_LOCK_KEY`): one that read the roster before this change would otherwise give
the member a case after theirs were handed back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import structlog

from complaints import repository as repo
from complaints import roster
from complaints.access import SYSTEM
from complaints.assignment import Assignment, Workload, assign, departments_for
from complaints.domain import ASSIGNED_EVENT, Category, concerned_department
from complaints.policy import CasePolicy
from complaints.publishing import once_per_case_id
from complaints.recording import record_change
from hospital_shared.vocabulary import SystemNote

log = structlog.get_logger(__name__)
Row = dict[str, Any]

_OPEN_CASES_OF = (
    "SELECT * FROM cases WHERE assignee_id = $1 AND finished_at IS NULL ORDER BY id FOR UPDATE"
)


def department_of(policy: CasePolicy, case: Row) -> str | None:
    """The department whose staff take the case over: the one handling it now (a supervisor's
    reassignment may have moved it there), else the one a new case of it would go to."""
    return case["handling_department"] or concerned_department(
        Category(case["category"]),
        case["department_code"],
        radiology_department=policy.radiology_department,
    )


def taking_over(policy: CasePolicy, workload: Workload, case: Row) -> Assignment:
    """Who takes `case` over, from the active staff (`workload`, which it adds the case to)."""
    return assign(policy, workload, department_of(policy, case), serious=case["serious"])


def handback_change(case: Row, chosen: Assignment) -> tuple[Row, Row]:
    """The case's new columns and its audit detail. With nobody to take it the case is left
    unassigned, as a new case with nobody on the roster is, but keeps its handling department,
    whose supervisors go on seeing it."""
    if chosen.assignee_id is None:
        changes: Row = {"assignee_id": None}
        reason = SystemNote.NOBODY_TO_TAKE_OVER
    else:
        changes = {
            "assignee_id": chosen.assignee_id,
            "handling_department": chosen.handling_department,
        }
        reason = SystemNote.HANDLER_DEACTIVATED
    detail = {"from": case["assignee_id"], "to": chosen.assignee_id, "reason": reason.value}
    return changes, detail


def handback_event_id(case: Row, roster_event_id: str) -> str:
    """One roster change hands a case back once: the same id when that change comes again."""
    return once_per_case_id(ASSIGNED_EVENT, case, "handed_back", roster_event_id)


async def hand_back_open_cases(
    conn: asyncpg.Connection,
    policy: CasePolicy,
    staff_id: str,
    *,
    roster_event_id: str,
    correlation_id: str | None,
    now: datetime,
) -> int:
    """Give each open case of `staff_id` (made inactive in this transaction) to whoever takes it
    over, and announce it; how many. Their cases are locked first, then the roster (openings
    lock in that order too: a patient merge moves cases before a batch opens new ones), then
    read again for those opened meanwhile."""
    await conn.fetch(_OPEN_CASES_OF, staff_id)
    await conn.execute(f"SELECT pg_advisory_xact_lock({roster.ROSTER_LOCK_KEY})")
    cases = [repo.opened_case(r) for r in await conn.fetch(_OPEN_CASES_OF, staff_id)]
    if not cases:
        return 0
    workload = await roster.workload(
        conn, {d for c in cases for d in departments_for(policy, department_of(policy, c))}
    )
    for case in cases:
        changes, detail = handback_change(case, taking_over(policy, workload, case))
        await record_change(
            conn, case, changes, action="assigned", event_type=ASSIGNED_EVENT, detail=detail,
            actor=SYSTEM, now=now, event_id=handback_event_id(case, roster_event_id),
            correlation_id=correlation_id,
        )  # fmt: skip
        log_handback(case, detail, staff_id=staff_id, roster_event_id=roster_event_id)
    return len(cases)


def log_handback(case: Row, detail: Row, *, staff_id: str, roster_event_id: str) -> None:
    """One line a case: a warning when nobody could take it (it waits for a supervisor)."""
    fields = {
        "case_number": case["case_number"], "staff_id": staff_id, "to": detail["to"],
        "department": case["handling_department"], "roster_event_id": roster_event_id,
    }  # fmt: skip
    if detail["to"] is None:
        log.warning("case of a deactivated handler left unassigned: nobody active", **fields)
    else:
        log.info("case of a deactivated handler reassigned", **fields)
