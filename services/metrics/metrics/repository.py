"""SQL of the KPI store's writes: counter totals and per-entity facts.

Every function runs on the handler's connection, inside the transaction that also writes the
event's inbox row: a redelivered event never reaches them twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from metrics.catalog import MetricSpec
from metrics.domain import label_key


async def count(
    conn: asyncpg.Connection, metric: MetricSpec, labels: Mapping[str, str], by: int = 1
) -> None:
    if set(labels) != set(metric.labels):
        raise ValueError(f"{metric.name} takes labels {metric.labels}, got {sorted(labels)}")
    await conn.execute(
        "INSERT INTO counter_totals (metric, labels, value) VALUES ($1, $2, $3)"
        " ON CONFLICT (metric, labels) DO UPDATE SET value = counter_totals.value + EXCLUDED.value",
        metric.name,
        label_key(labels),
        by,
    )


# --- registrations and discharges ----------------------------------------------------


async def add_registration(conn: asyncpg.Connection, **row: Any) -> bool:
    status = await conn.execute(
        "INSERT INTO registrations (registration_id, event_id, department, channel, visit_type,"
        " visit_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        row["registration_id"],
        row["event_id"],
        row["department"],
        row["channel"],
        row["visit_type"],
        row["visit_at"],
    )
    return bool(status == "INSERT 0 1")


async def cancel_registration(
    conn: asyncpg.Connection, registration_id: str, at: datetime
) -> asyncpg.Record | None:
    """The registration's department and channel when this cancels it for the first time."""
    return await conn.fetchrow(
        "UPDATE registrations SET cancelled_at = $2"
        " WHERE registration_id = $1 AND cancelled_at IS NULL RETURNING department, channel",
        registration_id,
        at,
    )


async def mark_no_show(conn: asyncpg.Connection, registration_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "UPDATE registrations SET no_show = true"
        " WHERE registration_id = $1 AND NOT no_show RETURNING department",
        registration_id,
    )


async def add_discharge(conn: asyncpg.Connection, **row: Any) -> bool:
    status = await conn.execute(
        "INSERT INTO discharges (admission_id, event_id, department, disposition, discharged_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        row["admission_id"],
        row["event_id"],
        row["department"],
        row["disposition"],
        row["discharged_at"],
    )
    return bool(status == "INSERT 0 1")


async def cancel_discharge(conn: asyncpg.Connection, admission_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "UPDATE discharges SET cancelled = true"
        " WHERE admission_id = $1 AND NOT cancelled RETURNING department",
        admission_id,
    )


# --- follow-up tasks -----------------------------------------------------------------


async def plan_task(conn: asyncpg.Connection, **row: Any) -> bool:
    """Insert the task, or fill in a placeholder row made by an event that overtook it."""
    inserted = await conn.fetchval(
        "INSERT INTO follow_up_tasks (task_id, kind, department, source_event_id, source_ref,"
        " due_at, planned_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (task_id) DO UPDATE SET kind = EXCLUDED.kind,"
        " department = EXCLUDED.department, source_event_id = EXCLUDED.source_event_id,"
        " source_ref = EXCLUDED.source_ref, due_at = EXCLUDED.due_at,"
        " planned_at = EXCLUDED.planned_at WHERE follow_up_tasks.planned_at IS NULL"
        " RETURNING task_id",
        row["task_id"],
        row["kind"],
        row["department"],
        row["source_event_id"],
        row["source_ref"],
        row["due_at"],
        row["planned_at"],
    )
    return inserted is not None


async def task(conn: asyncpg.Connection, task_id: str) -> asyncpg.Record:
    """The task's row; a placeholder (kind/department unknown) when its plan is not seen yet."""
    row = await conn.fetchrow(
        "INSERT INTO follow_up_tasks (task_id) VALUES ($1)"
        " ON CONFLICT (task_id) DO UPDATE SET task_id = EXCLUDED.task_id RETURNING *",
        task_id,
    )
    assert row is not None
    return row


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


async def sms_status(
    conn: asyncpg.Connection,
    *,
    message_id: str,
    template: str,
    department: str | None,
    status: str,
    at: datetime,
) -> tuple[str, bool]:
    """Record that the message reached `status`; (its template, whether this is new)."""
    row = await conn.fetchrow(
        "INSERT INTO sms_messages (message_id, template, department, created_at, status, statuses)"
        " VALUES ($1, $2, $3, $4, $5, ARRAY[$5]) ON CONFLICT (message_id) DO UPDATE SET"
        " status = EXCLUDED.status,"
        " template = CASE WHEN sms_messages.template = 'unknown' THEN EXCLUDED.template"
        "   ELSE sms_messages.template END,"
        " department = COALESCE(sms_messages.department, EXCLUDED.department),"
        " created_at = LEAST(sms_messages.created_at, EXCLUDED.created_at),"
        " statuses = array_append(sms_messages.statuses, $5)"
        " WHERE NOT ($5 = ANY(sms_messages.statuses)) RETURNING template",
        message_id,
        template,
        department,
        at,
        status,
    )
    if row is None:
        return template, False
    return str(row["template"]), True
