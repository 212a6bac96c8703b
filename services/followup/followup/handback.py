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
console's confirmation before it is saved."""

from __future__ import annotations

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

# The member's open calls ($1) that a change hands back: all of them when $2 (the role they
# keep) is NULL (made inactive), else those that role may not make.
_THEIRS = """
assignee_id = $1 AND status IN ('planned', 'assigned')
AND ($2::text IS NULL OR NOT ($2::text = ANY(roles)))
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
          t.attempts_made, t.generation
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


async def hand_back_open_calls(
    conn: asyncpg.Connection,
    staff_id: str,
    *,
    roster_event_id: str,
    time: datetime,
    keeping_role: str | None = None,
) -> int:
    """Give back `staff_id`'s open calls for assignment again and announce each; how many.
    `keeping_role`: they stay active with this new role, and only the calls it may not make go.
    A call whose outcome is being recorded at this moment is waited for (its row is locked):
    a completed one stays done, one still open is handed back with its attempts. An assignment
    pass under way is waited for first (its lock, held to our commit): one that read the roster
    before this change could otherwise give the member a call after theirs were handed back."""
    await conn.execute(f"SELECT pg_advisory_xact_lock({ASSIGNMENT_LOCK_KEY})")
    rows = await conn.fetch(_HAND_BACK, staff_id, keeping_role)
    reason = STAFF_DEACTIVATED if keeping_role is None else STAFF_ROLE_CHANGED
    await add_many_to_outbox(conn, [
        (released_event(r, staff_id=staff_id, roster_event_id=roster_event_id, time=time,
                        reason=reason),
         topics.FOLLOWUP_TASKS, r["patient_id"])
        for r in rows
    ])  # fmt: skip
    return len(rows)


def role_changed(before: asyncpg.Record | dict[str, Any] | None, role: str) -> bool:
    """Whether a member kept active is given another role than the one they were active with
    (`before`: their row before the save; a new member, or one inactive before, holds nothing)."""
    return before is not None and bool(before["active"]) and before["role"] != role


async def calls_to_hand_back(
    conn: asyncpg.Connection, staff_id: str, *, active: bool, role: str
) -> int:
    """How many open calls saving `staff_id` with `active` and `role` would hand back now, by
    the rule the save applies (`roster.save_member`): made inactive, all; kept active with
    another role, those it may not make; else none."""
    before = await conn.fetchrow("SELECT active, role FROM staff WHERE staff_id = $1", staff_id)
    if before is None or (active and not role_changed(before, role)):
        return 0
    count: int = await conn.fetchval(
        f"SELECT count(*) FROM follow_up_tasks WHERE {_THEIRS}", staff_id, role if active else None
    )
    return count
