"""What a roster change would hand back now, counted before it is saved: the staff console asks
operations to confirm a deactivation, or a role change that takes work from a member, saying
how much goes (`GET /v1/staff/{staff_id}/handback`). Counted by the rule the change applies
(`roster.upsert_staff` -> `assignment.duties_given_up` -> `handback.hand_back_open_cases`):
the open cases they handle and those they supervise, the open enquiries they own and those
they supervise, each of the duties the change takes from them. Counts only, no patient."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from complaints.assignment import Duty, duties_given_up

# $2: their handled (owned) work goes, $3: their supervised work goes.
_CASES = (
    "SELECT count(*) FILTER (WHERE assignee_id = $1 AND $2) AS held,"
    " count(*) FILTER (WHERE supervisor_id = $1 AND $3) AS supervised"
    " FROM cases WHERE (assignee_id = $1 OR supervisor_id = $1) AND finished_at IS NULL"
)
_ENQUIRIES = (
    "SELECT count(*) FILTER (WHERE owner_id = $1 AND $2) AS held,"
    " count(*) FILTER (WHERE supervisor_id = $1 AND $3) AS supervised"
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
    conn: asyncpg.Connection, staff_id: str, *, role: str, active: bool
) -> HandedBack:
    """What saving `staff_id` with `role` and `active` would hand back now; nothing for a
    member this service's roster does not hold (they hold nothing here)."""
    before = await conn.fetchrow("SELECT active, role FROM staff WHERE staff_id = $1", staff_id)
    if before is None:
        return HandedBack()
    duties = duties_given_up(
        was_active=before["active"], old_role=before["role"], active=active, role=role
    )
    if not duties:
        return HandedBack()
    flags = (Duty.HANDLE in duties, Duty.SUPERVISE in duties)
    cases = await conn.fetchrow(_CASES, staff_id, *flags)
    enquiries = await conn.fetchrow(_ENQUIRIES, staff_id, *flags)
    return HandedBack(
        cases["held"], cases["supervised"], enquiries["held"], enquiries["supervised"]
    )
