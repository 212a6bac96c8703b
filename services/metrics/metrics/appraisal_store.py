"""The per-staff facts of the appraisal (see `appraisal`): written from the follow-up,
complaint and roster events in the consumer's transaction, read as counts per staff member.

Which staff id an event carries: `followup.task_completed` its `completed_by`;
`followup.call_retry_scheduled` and `followup.task_unreachable` their `called_by` (older
events without it are not attributed to anyone); `complaint.case_*` the case's
`assignee_id`, the handler (the latest one wins: a reassigned case is the new handler's).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from hospital_shared.service_events.complaints import ComplaintCaseChanged
from hospital_shared.service_events.followup import (
    FollowUpCallRetryScheduled,
    FollowUpTaskCompleted,
    FollowUpTaskUnreachable,
    StaffMemberSaved,
)
from hospital_shared.time_limits import past_due_sql
from hospital_shared.vocabulary import EventName
from metrics.appraisal import StaffCounts
from metrics.domain import label, rating
from metrics.kpi import Window
from metrics.received import Handler, Received


async def _add_call(
    conn: asyncpg.Connection,
    e: Received[Any],
    call: FollowUpTaskCompleted | FollowUpCallRetryScheduled | FollowUpTaskUnreachable,
    staff_id: str,
) -> None:
    """One call of `staff_id`'s: reached (with its rating and score) when it completed."""
    done = call if isinstance(call, FollowUpTaskCompleted) else None
    await conn.execute(
        "INSERT INTO staff_calls (event_id, staff_id, department, task_id, reached, rating,"
        " score, called_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        e.id,
        staff_id,
        label(call.department_code),
        call.task_id,
        done is not None,
        rating(done.satisfaction) if done else None,
        done.score if done else None,
        done.completed_at if done else e.time,
    )


async def on_call_completed(conn: asyncpg.Connection, e: Received[FollowUpTaskCompleted]) -> None:
    await _add_call(conn, e, e.contract, e.contract.completed_by)


async def on_call_not_reached(
    conn: asyncpg.Connection, e: Received[FollowUpCallRetryScheduled | FollowUpTaskUnreachable]
) -> None:
    staff_id = e.contract.called_by
    if staff_id:
        await _add_call(conn, e, e.contract, staff_id)


async def on_case_handler(conn: asyncpg.Connection, e: Received[ComplaintCaseChanged]) -> None:
    handler_id = e.contract.assignee_id
    if handler_id:
        await conn.execute(
            "UPDATE complaint_cases SET handler_id = $2"
            " WHERE case_id = $1 AND handler_id IS DISTINCT FROM $2",
            e.contract.case_number,
            handler_id,
        )


async def on_staff_saved(conn: asyncpg.Connection, e: Received[StaffMemberSaved]) -> None:
    """A staff member's department, role and name, as the roster last said."""
    member = e.contract
    await conn.execute(
        "INSERT INTO staff_members (staff_id, department, role, name) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (staff_id) DO UPDATE SET department = EXCLUDED.department,"
        " role = EXCLUDED.role, name = EXCLUDED.name",
        member.staff_id,
        label(member.department_code),
        member.role.value,
        member.name,
    )


# Run after the type's own handler (handlers.py), so the case row exists.
HANDLERS: dict[str, Handler] = {
    "followup.task_completed": on_call_completed,
    "followup.call_retry_scheduled": on_call_not_reached,
    "followup.task_unreachable": on_call_not_reached,
    EventName.STAFF_MEMBER_SAVED: on_staff_saved,
}


def handler_for(type_: str) -> Handler | None:
    if type_.startswith("complaint.case_"):
        return on_case_handler
    return HANDLERS.get(type_)


_COUNTS = f"""
WITH calls AS (
    SELECT staff_id, count(*) AS calls, count(*) FILTER (WHERE reached) AS reached,
           count(rating) AS rated,
           count(*) FILTER (WHERE rating IN ('satisfied', 'fairly_satisfied')) AS satisfied,
           count(score) AS scored, coalesce(sum(score), 0) AS score_sum
      FROM staff_calls WHERE called_at >= $1 AND called_at < $2 GROUP BY staff_id
), cases AS (
    SELECT handler_id AS staff_id, count(*) AS cases,
           count(*) FILTER (WHERE first_response_outcome = 'met'
                              AND cardinality(breached_limits) = 0) AS cases_in_time,
           count(*) FILTER (WHERE first_response_outcome IS NULL
                              AND cardinality(breached_limits) = 0
                              AND NOT {past_due_sql("first_response_due_at", "$5::timestamptz")})
                          AS cases_pending
      FROM complaint_cases
     WHERE handler_id IS NOT NULL AND opened_at >= $1 AND opened_at < $2
       AND status <> 'withdrawn'
     GROUP BY handler_id
)
SELECT staff_id, coalesce(c.calls, 0) AS calls, coalesce(c.reached, 0) AS reached,
       coalesce(c.rated, 0) AS rated, coalesce(c.satisfied, 0) AS satisfied,
       coalesce(c.scored, 0) AS scored, coalesce(c.score_sum, 0) AS score_sum,
       coalesce(k.cases, 0) AS cases, coalesce(k.cases_in_time, 0) AS cases_in_time,
       coalesce(k.cases_pending, 0) AS cases_pending
  FROM calls c FULL JOIN cases k USING (staff_id)
  LEFT JOIN staff_members m USING (staff_id)
 WHERE ($3::text IS NULL OR m.department = $3)
   AND ($4::text IS NULL OR staff_id = $4)
 ORDER BY staff_id
"""


async def staff_counts(
    conn: asyncpg.Connection,
    window: Window,
    *,
    department: str | None = None,
    staff_id: str | None = None,
    now: datetime | None = None,
) -> list[StaffCounts]:
    """Counts per staff member in `window`; `department`: only that department's staff (as
    the roster says). A case whose first response is due after `now` (default: now) and not
    settled is pending."""
    at = now or datetime.now(UTC)
    rows = await conn.fetch(_COUNTS, window.start, window.end, department, staff_id, at)
    return [StaffCounts(**dict(r)) for r in rows]
