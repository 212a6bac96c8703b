"""What the complaint desk's screens need beyond the lifecycle: a note in the case's written
record, and the team's workload of open cases with their running time limits. The note runs
in the caller's transaction on the locked case, like every other step."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from complaints import cases
from complaints.access import Actor, can_work
from complaints.domain import NotPermitted
from complaints.recording import record_change
from hospital_shared.time_limits import past_due_sql, past_warning_sql

Row = dict[str, Any]


async def add_note(
    conn: asyncpg.Connection,
    number: str,
    *,
    note: str,
    actor: Actor,
    now: datetime,
    expected_version: int | None = None,
) -> Row:
    """A note (a call with the patient, a fact found) in the case's written record: an audit
    line `note_added` that keeps the status. No event: events never carry complaint text."""
    case = await cases.locked_case(conn, number)
    if not can_work(actor, case):
        raise NotPermitted(f"{actor.id} does not work on case {number}")
    cases.check_version(case, expected_version)
    return await record_change(
        conn, case, {}, action="note_added", event_type=None, detail={"note": note},
        actor=actor, now=now,
    )  # fmt: skip


# Open cases per handler, and how many of them have a time limit of the current cycle running
# past its warning point or its due time (the screen's warning and breach colours).
_WORKLOAD = f"""
SELECT c.assignee_id, count(*) AS open_cases,
       count(*) FILTER (WHERE r.breached) AS breached,
       count(*) FILTER (WHERE r.warned AND NOT r.breached) AS warning
FROM cases c
LEFT JOIN LATERAL (
    SELECT bool_or({past_due_sql("d.due_at", "$1")}) AS breached,
           bool_or({past_warning_sql("d.warn_at", "$1")}) AS warned
    FROM case_deadlines d
    WHERE d.case_id = c.id AND d.cycle = c.cycle AND d.settled_at IS NULL
) r ON true
WHERE c.finished_at IS NULL AND ($2::text IS NULL
      OR c.department_code = $2 OR c.handling_department = $2 OR c.supervisor_id = $3)
GROUP BY c.assignee_id
ORDER BY c.assignee_id NULLS FIRST
"""


async def workload(
    conn: asyncpg.Connection, *, department: str | None, supervisor_id: str | None, now: datetime
) -> list[Row]:
    """Open cases per handler in `department` (with those `supervisor_id` supervises), or in
    every department (None). Joined with the roster for each handler's role and department."""
    rows = await conn.fetch(_WORKLOAD, now, department, supervisor_id)
    staff = {
        r["staff_id"]: r
        for r in await conn.fetch(
            "SELECT staff_id, department_code, role, active FROM staff"
            " WHERE staff_id = ANY($1::text[])",
            [r["assignee_id"] for r in rows if r["assignee_id"]],
        )
    }
    return [
        {
            "assignee_id": r["assignee_id"],
            "role": staff[r["assignee_id"]]["role"] if r["assignee_id"] in staff else None,
            "department": (
                staff[r["assignee_id"]]["department_code"] if r["assignee_id"] in staff else None
            ),
            "open_cases": r["open_cases"],
            "warning": r["warning"],
            "breached": r["breached"],
        }
        for r in rows
    ]
