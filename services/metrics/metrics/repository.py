"""SQL of the KPI store's writes: per-entity facts (counter totals: see `tally`).

Every function runs on the handler's connection, inside the transaction that also writes the
event's inbox row: a redelivered event never reaches them twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

# --- registrations and discharges ----------------------------------------------------


async def add_registrations(conn: asyncpg.Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert the registrations (ids distinct) in one statement; the ids that were new."""
    fresh = await conn.fetch(
        "INSERT INTO registrations (registration_id, event_id, department, channel, visit_type,"
        " visit_at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
        " $5::text[], $6::timestamptz[]) ON CONFLICT DO NOTHING RETURNING registration_id",
        *_columns(rows, "registration_id", "event_id", "department", "channel", "visit_type",
                  "visit_at"),
    )  # fmt: skip
    return {r["registration_id"] for r in fresh}


async def add_discharges(conn: asyncpg.Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert the discharges (ids distinct) in one statement; the ids that were new."""
    fresh = await conn.fetch(
        "INSERT INTO discharges (admission_id, event_id, department, disposition, discharged_at)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
        " $5::timestamptz[]) ON CONFLICT DO NOTHING RETURNING admission_id",
        *_columns(rows, "admission_id", "event_id", "department", "disposition", "discharged_at"),
    )
    return {r["admission_id"] for r in fresh}


def _columns(rows: Sequence[dict[str, Any]], *names: str) -> list[list[Any]]:
    return [[row[name] for row in rows] for name in names]


async def cancel_registrations(
    conn: asyncpg.Connection, cancelled: Sequence[tuple[str, datetime]]
) -> dict[str, dict[str, str]]:
    """Cancel the registrations (ids distinct) at their times, in one statement; the
    department and channel of those this cancels for the first time."""
    ids, times = zip(*sorted(cancelled), strict=True) if cancelled else ((), ())
    rows = await conn.fetch(
        "UPDATE registrations r SET cancelled_at = u.at"
        " FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at)"
        " WHERE r.registration_id = u.id AND r.cancelled_at IS NULL"
        " RETURNING r.registration_id, r.department, r.channel",
        list(ids),
        list(times),
    )
    return {r["registration_id"]: {"department": r["department"], "channel": r["channel"]}
            for r in rows}  # fmt: skip


async def mark_no_shows(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, str]:
    """Mark the registrations no-shows in one statement; the department of those this marks
    for the first time."""
    rows = await conn.fetch(
        "UPDATE registrations SET no_show = true"
        " WHERE registration_id = ANY($1::text[]) AND NOT no_show"
        " RETURNING registration_id, department",
        sorted(ids),
    )
    return {r["registration_id"]: r["department"] for r in rows}


async def cancel_discharge(conn: asyncpg.Connection, admission_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "UPDATE discharges SET cancelled = true"
        " WHERE admission_id = $1 AND NOT cancelled RETURNING department",
        admission_id,
    )


# --- follow-up tasks -----------------------------------------------------------------


async def plan_tasks(conn: asyncpg.Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
    """`plan_task` for many tasks (ids distinct) in one statement; the ids that were new."""
    fresh = await conn.fetch(
        "INSERT INTO follow_up_tasks (task_id, kind, department, source_event_id, source_ref,"
        " due_at, planned_at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[],"
        " $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[])"
        " ON CONFLICT (task_id) DO UPDATE SET kind = EXCLUDED.kind,"
        " department = EXCLUDED.department, source_event_id = EXCLUDED.source_event_id,"
        " source_ref = EXCLUDED.source_ref, due_at = EXCLUDED.due_at,"
        " planned_at = EXCLUDED.planned_at WHERE follow_up_tasks.planned_at IS NULL"
        " RETURNING task_id",
        *_columns(rows, "task_id", "kind", "department", "source_event_id", "source_ref",
                  "due_at", "planned_at"),
    )  # fmt: skip
    return {r["task_id"] for r in fresh}


async def touch_tasks(conn: asyncpg.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """`ensure_task` for many tasks (ids distinct) in one statement, also setting the due time
    of an open task (when `due_at` is not null) and the overdue flag (when `overdue`)."""
    await conn.execute(
        "INSERT INTO follow_up_tasks (task_id, kind, department, due_at, overdue)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[],"
        " $5::bool[]) ON CONFLICT (task_id) DO UPDATE SET"
        " kind = CASE WHEN follow_up_tasks.kind = 'unknown' THEN EXCLUDED.kind"
        "   ELSE follow_up_tasks.kind END,"
        " department = CASE WHEN follow_up_tasks.kind = 'unknown' THEN EXCLUDED.department"
        "   ELSE follow_up_tasks.department END,"
        " due_at = CASE WHEN follow_up_tasks.status = 'open' AND EXCLUDED.due_at IS NOT NULL"
        "   THEN EXCLUDED.due_at ELSE follow_up_tasks.due_at END,"
        " overdue = follow_up_tasks.overdue OR EXCLUDED.overdue",
        *_columns(rows, "task_id", "kind", "department", "due_at", "overdue"),
    )


async def ensure_task(conn: asyncpg.Connection, task_id: str, kind: str, department: str) -> None:
    """Make sure the task's row exists (a placeholder when its plan is not seen yet), and fill
    in its kind and department while they are unknown."""
    await conn.execute(
        "INSERT INTO follow_up_tasks (task_id, kind, department) VALUES ($1, $2, $3)"
        " ON CONFLICT (task_id) DO UPDATE SET kind = EXCLUDED.kind,"
        " department = EXCLUDED.department WHERE follow_up_tasks.kind = 'unknown'",
        task_id,
        kind,
        department,
    )


async def ensure_tasks(conn: asyncpg.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """`ensure_task` for many tasks (ids distinct) in one statement."""
    await conn.execute(
        "INSERT INTO follow_up_tasks (task_id, kind, department)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[])"
        " ON CONFLICT (task_id) DO UPDATE SET kind = EXCLUDED.kind,"
        " department = EXCLUDED.department WHERE follow_up_tasks.kind = 'unknown'",
        *_columns(sorted(rows, key=lambda r: str(r["task_id"])), "task_id", "kind", "department"),
    )


async def withdraw_tasks(
    conn: asyncpg.Connection, tasks: Sequence[tuple[str, datetime]]
) -> set[str]:
    """Withdraw the open tasks among `tasks` (ids distinct) at their times; those withdrawn."""
    ids, times = zip(*sorted(tasks), strict=True) if tasks else ((), ())
    rows = await conn.fetch(
        "UPDATE follow_up_tasks t SET status = 'withdrawn', closed_at = u.at"
        " FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at)"
        " WHERE t.task_id = u.id AND t.status = 'open' RETURNING t.task_id",
        list(ids),
        list(times),
    )
    return {r["task_id"] for r in rows}


async def update_task(conn: asyncpg.Connection, task_id: str, guard: str, **changes: Any) -> bool:
    """Apply `changes` when `guard` (SQL on the row) holds; True when the row changed."""
    sets = ", ".join(f"{col} = ${i}" for i, col in enumerate(changes, start=2))
    changed = await conn.fetchval(
        f"UPDATE follow_up_tasks SET {sets} WHERE task_id = $1 AND ({guard}) RETURNING task_id",
        task_id,
        *changes.values(),
    )
    return changed is not None


async def add_satisfaction(conn: asyncpg.Connection, **row: Any) -> bool:
    status = await conn.execute(
        "INSERT INTO satisfaction_answers (event_id, task_id, department, kind, aspect, rating,"
        " answered_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        row["event_id"],
        row["task_id"],
        row["department"],
        row["kind"],
        row["aspect"],
        row["rating"],
        row["answered_at"],
    )
    return bool(status == "INSERT 0 1")


# --- complaint cases -----------------------------------------------------------------


async def save_case(
    conn: asyncpg.Connection, case_id: str, *, opened_at: datetime, **fields: Any
) -> None:
    """Create the case row (opened_at is a placeholder until the opening event is seen) or
    update `fields` on it."""
    cols = ["case_id", "opened_at", *fields]
    values = ", ".join(f"${i}" for i in range(1, len(cols) + 1))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in fields) or "case_id = EXCLUDED.case_id"
    await conn.execute(
        f"INSERT INTO complaint_cases ({', '.join(cols)}) VALUES ({values})"
        f" ON CONFLICT (case_id) DO UPDATE SET {updates}",
        case_id,
        opened_at,
        *fields.values(),
    )


async def mark_case_opened(conn: asyncpg.Connection, case_id: str, opened_at: datetime) -> bool:
    """Set the real opening time; True the first time the opening is seen."""
    changed = await conn.fetchval(
        "UPDATE complaint_cases SET opened_seen = true, opened_at = $2"
        " WHERE case_id = $1 AND NOT opened_seen RETURNING case_id",
        case_id,
        opened_at,
    )
    return changed is not None


async def case_department(conn: asyncpg.Connection, case_id: str) -> str | None:
    dept: str | None = await conn.fetchval(
        "SELECT department FROM complaint_cases WHERE case_id = $1", case_id
    )
    return dept


async def add_limit_event(conn: asyncpg.Connection, case_id: str, column: str, limit: str) -> bool:
    """Record a warning or breach of `limit` on the case once; True the first time."""
    assert column in ("warned_limits", "breached_limits")
    changed = await conn.fetchval(
        f"UPDATE complaint_cases SET {column} = array_append({column}, $2)"
        f" WHERE case_id = $1 AND NOT ($2 = ANY({column})) RETURNING case_id",
        case_id,
        limit,
    )
    return changed is not None


async def add_complaint_satisfaction(conn: asyncpg.Connection, **row: Any) -> bool:
    status = await conn.execute(
        "INSERT INTO complaint_satisfaction (event_id, case_id, department, satisfied,"
        " answered_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        row["event_id"],
        row["case_id"],
        row["department"],
        row["satisfied"],
        row["answered_at"],
    )
    return bool(status == "INSERT 0 1")


# --- SMS -----------------------------------------------------------------------------


async def sms_statuses(conn: asyncpg.Connection, rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Record that each message reached its status (message ids distinct, so each row is its
    own `INSERT ... ON CONFLICT`, as one statement per event would be); the messages for
    which it is new, with their template. Rows in message order: a stable lock order."""
    rows = sorted(rows, key=lambda row: str(row["message_id"]))
    fresh = await conn.fetch(
        "INSERT INTO sms_messages (message_id, template, department, created_at, status, statuses)"
        " SELECT m, t, d, a, s, ARRAY[s] FROM unnest($1::text[], $2::text[], $3::text[],"
        " $4::timestamptz[], $5::text[]) AS u(m, t, d, a, s)"
        " ON CONFLICT (message_id) DO UPDATE SET status = EXCLUDED.status,"
        " template = CASE WHEN sms_messages.template = 'unknown' THEN EXCLUDED.template"
        "   ELSE sms_messages.template END,"
        " department = COALESCE(sms_messages.department, EXCLUDED.department),"
        " created_at = LEAST(sms_messages.created_at, EXCLUDED.created_at),"
        " statuses = array_append(sms_messages.statuses, EXCLUDED.status)"
        " WHERE NOT (EXCLUDED.status = ANY(sms_messages.statuses))"
        " RETURNING message_id, template",
        *_columns(rows, "message_id", "template", "department", "at", "status"),
    )  # fmt: skip
    return {r["message_id"]: r["template"] for r in fresh}
