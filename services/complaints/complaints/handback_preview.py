"""What a roster change would hand back now, counted before it is saved: the staff console asks
operations to confirm a deactivation, a role change or a move to another department that takes
work from a member, saying how much goes (`GET /v1/staff/{staff_id}/handback`). Counted by the
rule the change applies (`roster.upsert_staff` -> `assignment.roster_change` ->
`handback_rules.given_up_by` -> `handback.hand_back_open_cases`), each piece of work by the same
per-piece rule (`handback.case_given_up`, `enquiry_handback.given_up_of`): the open cases they
handle and those they supervise, the open enquiries they own and those they supervise. Counts
only, no patient. A move can hand a piece of work back to the very member (into the desk, for
a department with nobody of its own): it is counted, and then nothing changes."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from complaints.assignment import roster_change
from complaints.enquiry_handback import given_up_of
from complaints.handback import case_given_up
from complaints.handback_rules import given_up_by
from complaints.policy import CasePolicy

_CASES = (
    "SELECT assignee_id, supervisor_id, handling_department, category, department_code"
    " FROM cases WHERE (assignee_id = $1 OR supervisor_id = $1) AND finished_at IS NULL"
)
_ENQUIRIES = (
    "SELECT owner_id, supervisor_id, owner_department, department_code"
    " FROM enquiries WHERE (owner_id = $1 OR supervisor_id = $1) AND status = 'open'"
)


@dataclass(frozen=True, slots=True)
class HandedBack:
    """How many open cases and enquiries a change would hand back, by what the member held."""

    cases_handled: int = 0
    cases_supervised: int = 0
    enquiries_owned: int = 0
    enquiries_supervised: int = 0


async def to_hand_back(
    conn: asyncpg.Connection,
    policy: CasePolicy,
    staff_id: str,
    *,
    role: str,
    active: bool,
    department: str | None = None,
) -> HandedBack:
    """What saving `staff_id` with `role`, `department` (None: the one they have) and `active`
    would hand back now; nothing for a member this service's roster does not hold (they hold
    nothing here)."""
    before = await conn.fetchrow(
        "SELECT active, role, department_code FROM staff WHERE staff_id = $1", staff_id
    )
    if before is None:
        return HandedBack()
    change = roster_change(
        was_active=before["active"], old_role=before["role"],
        old_department=before["department_code"], active=active, role=role,
        department=department or before["department_code"],
    )  # fmt: skip
    parts = given_up_by(change, active=active)
    if not parts:
        return HandedBack()
    cases = [
        _by_any([case_given_up(policy, dict(r), staff_id, p) for p in parts])
        for r in await conn.fetch(_CASES, staff_id)
    ]
    enquiries = [
        _by_any([given_up_of(policy, dict(r), staff_id, p) for p in parts])
        for r in await conn.fetch(_ENQUIRIES, staff_id)
    ]
    return HandedBack(
        sum(h for h, _ in cases), sum(s for _, s in cases),
        sum(h for h, _ in enquiries), sum(s for _, s in enquiries),
    )  # fmt: skip


def _by_any(each: list[tuple[bool, bool]]) -> tuple[bool, bool]:
    """(its holder changes, its supervisor changes) by any of a change's parts."""
    return any(h for h, _ in each), any(s for _, s in each)
