"""A member of staff made inactive hands back their open calls. Assignment gives calls only
to active staff, so a call assigned before the member left would otherwise stay with nobody
who will make it until it is overdue. In the transaction that saves the roster change, their
assigned, not yet finished calls go back to `planned` without an assignee, for the assignment
job to give to their department's active staff, and each says so on `followup.tasks.v1`
(`followup.task_released`, naming the member and the roster change).

Once: the member is saved inactive only when the roster changed (`roster.save_member`), and
a call already handed back has no assignee, so saving them inactive again finds nothing.
A call screen the member still has open is the `attempt`/`generation` check's and the
access rules' business: its outcome is refused (they are no longer the assignee), and the
attempts they made still count.

A member who stays active but is given a role that may not make some of their calls (each call
names the roles that may make it, `follow_up_tasks.roles`: an agent made operations or a
supervisor, a doctor made an agent holding a doctor-only call) hands those back the same way,
in the same transaction (`reason: staff_role_changed`); the calls their new role may make stay
theirs. `calls_to_hand_back` counts what a change would hand back, by the same rule, for the
console's confirmation before it is saved.

A member who stays active but moves to another department hands back, the same way, the open
calls that are not the new department's (`reason: staff_department_changed`). A call belongs to
the department of the patient's stay or visit (`follow_up_tasks.department_code`), and the
assignment job gives it to that department's staff, else to the fallback department's (the
customer-service centre): a doctor moved from cardiology to orthopaedics is no longer on
cardiology's roster, and its calls, which that doctor would not be given now, wait in
cardiology's queue for its staff (as a patient's transfer hands a call back from an assignee of
another department, `transfers.py`). The calls of the new department stay theirs. One moved
into the fallback department whose old department has nobody with room may be given such a
call again by the next assignment pass: that is the assignment rule, not a failed hand-back.
A change of role and of department at once hands back both, each call with the reason that
applies to it (the role first: a call the new role may not make goes whatever its department)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from followup.assignment import ASSIGNMENT_LOCK_KEY
from followup.outgoing import life_id, new_event
from hospital_shared import topics
from hospital_shared.events import CloudEvent
from hospital_shared.outbox import add_many_to_outbox
from hospital_shared.service_events.followup import FollowUpTaskReleased
from hospital_shared.vocabulary import EventName

STAFF_DEACTIVATED = "staff_deactivated"
STAFF_ROLE_CHANGED = "staff_role_changed"
STAFF_DEPARTMENT_CHANGED = "staff_department_changed"

# The member's open calls ($1) that a change hands back: all of them when $2 (made inactive),
# else those the role they change to ($3, NULL when it stays) may not make and those not of the
# department they move to ($4, NULL when it stays).
_THEIRS = """
assignee_id = $1 AND status IN ('planned', 'assigned')
AND ($2::boolean
     OR ($3::text IS NOT NULL AND NOT ($3::text = ANY(roles)))
     OR ($4::text IS NOT NULL AND department_code IS DISTINCT FROM $4::text))
"""

# The member's calls locked by task id before they change (call_opt_outs.LOCK_ORDER): the
# UPDATE alone locked them in the order it found them, and deadlocked with an opt-out
# withdrawing the same patient's calls.
_HAND_BACK = f"""
WITH handed AS (
    SELECT task_id FROM follow_up_tasks
     WHERE {_THEIRS}
     ORDER BY task_id FOR UPDATE
)
UPDATE follow_up_tasks t SET assignee_id = NULL, status = 'planned', updated_at = now()
  FROM handed WHERE t.task_id = handed.task_id
RETURNING t.task_id, t.kind, t.patient_id, t.department_code, t.status, t.due_at,
          t.attempts_made, t.generation, t.roles
"""


def released_event(
    row: asyncpg.Record | dict[str, Any],
    *,
    staff_id: str,
    roster_event_id: str,
    time: datetime,
    reason: str = STAFF_DEACTIVATED,
) -> CloudEvent[Any]:
    """`followup.task_released` for a call handed back, its id from the call's life and the
    roster change (one roster change hands a call back once)."""
    data = FollowUpTaskReleased(
        task_id=row["task_id"], kind=row["kind"], patient_id=row["patient_id"],
        department_code=row["department_code"], previous_assignee_id=staff_id,
        reason=reason, status=row["status"], due_at=row["due_at"],
        attempts_made=row["attempts_made"], source_event_id=roster_event_id,
    )  # fmt: skip
    return new_event(
        EventName.TASK_RELEASED, data, subject=row["patient_id"], time=time,
        event_id=f"{life_id(row['task_id'], row['generation'])}:released:{roster_event_id}",
        correlation_id=roster_event_id,
    )  # fmt: skip


@dataclass(frozen=True)
class Kept:
    """What a save changes of a member it keeps active that may take calls from them: the role
    they change to and the department they move to (None: that stays)."""

    role: str | None = None
    department: str | None = None

    def args(self) -> tuple[bool, str | None, str | None]:
        """`_THEIRS`'s $2..$4: not made inactive, this role, this department."""
        return False, self.role, self.department


DEACTIVATED_ARGS = (True, None, None)


def kept_active(
    before: asyncpg.Record | dict[str, Any] | None, *, role: str, department: str
) -> Kept:
    """What a save keeping a member active changes that may take calls from them (`before`:
    their row before the save; a new member, or one inactive before, holds nothing)."""
    if before is None or not before["active"]:
        return Kept()
    return Kept(
        role=role if before["role"] != role else None,
        department=department if before["department_code"] != department else None,
    )


async def hand_back_open_calls(
    conn: asyncpg.Connection,
    staff_id: str,
    *,
    roster_event_id: str,
    time: datetime,
    kept: Kept | None = None,
) -> int:
    """Give back `staff_id`'s open calls for assignment again and announce each; how many.
    `kept`: they stay active, and only the calls the new role may not make, and those not of
    the department they move to, go (None: made inactive, all of them).
    A call whose outcome is being recorded at this moment is waited for (its row is locked):
    a completed one stays done, one still open is handed back with its attempts. An assignment
    pass under way is waited for first (its lock, held to our commit): one that read the roster
    before this change could otherwise give the member a call after theirs were handed back."""
    await conn.execute(f"SELECT pg_advisory_xact_lock({ASSIGNMENT_LOCK_KEY})")
    rows = await conn.fetch(_HAND_BACK, staff_id, *(kept.args() if kept else DEACTIVATED_ARGS))
    await add_many_to_outbox(conn, [
        (released_event(r, staff_id=staff_id, roster_event_id=roster_event_id, time=time,
                        reason=release_reason(r["roles"], kept)),
         topics.FOLLOWUP_TASKS, r["patient_id"])
        for r in rows
    ])  # fmt: skip
    return len(rows)


def release_reason(roles: list[str], kept: Kept | None) -> str:
    """Why a call went back: the member left; their new role may not make it (whatever its
    department); else it is not their new department's."""
    if kept is None:
        return STAFF_DEACTIVATED
    if kept.role is not None and kept.role not in roles:
        return STAFF_ROLE_CHANGED
    return STAFF_DEPARTMENT_CHANGED


async def calls_to_hand_back(
    conn: asyncpg.Connection,
    staff_id: str,
    *,
    active: bool,
    role: str,
    department: str | None = None,
) -> int:
    """How many open calls saving `staff_id` with `active`, `role` and `department` (None: the
    one they have) would hand back now, by the rule the save applies (`roster.save_member`):
    made inactive, all; kept active with another role, those it may not make; moved to another
    department, those not of it; else none."""
    before = await conn.fetchrow(
        "SELECT active, role, department_code FROM staff WHERE staff_id = $1", staff_id
    )
    if before is None or not before["active"]:
        return 0
    kept = kept_active(before, role=role, department=department or before["department_code"])
    if active and kept == Kept():
        return 0
    count: int = await conn.fetchval(
        f"SELECT count(*) FROM follow_up_tasks WHERE {_THEIRS}", staff_id,
        *(kept.args() if active else DEACTIVATED_ARGS),
    )  # fmt: skip
    return count
