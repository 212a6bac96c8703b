"""SQL of the complaints service (asyncpg; the connection's search_path is the service schema)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import asyncpg

from complaints.policy import Deadline

Row = dict[str, Any]


async def next_case_sequence(conn: asyncpg.Connection, day: date) -> int:
    """The next number of `day`; the counter only grows, so a number is never reused."""
    value = await conn.fetchval(
        "INSERT INTO case_number_counters AS c (day, last_number) VALUES ($1, 1)"
        " ON CONFLICT (day) DO UPDATE SET last_number = c.last_number + 1"
        " RETURNING last_number",
        day,
    )
    return int(value)


async def case_by_external_id(
    conn: asyncpg.Connection, channel: str, external_id: str
) -> Row | None:
    row = await conn.fetchrow(
        "SELECT * FROM cases WHERE channel = $1 AND external_id = $2", channel, external_id
    )
    return dict(row) if row else None


async def insert_case(conn: asyncpg.Connection, case: Row) -> Row | None:
    """Insert the case; None when the same (channel, external_id) got there first."""
    columns = list(case)
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    row = await conn.fetchrow(
        f"INSERT INTO cases ({', '.join(columns)}) VALUES ({placeholders})"
        " ON CONFLICT (channel, external_id) DO NOTHING RETURNING *",
        *case.values(),
    )
    return dict(row) if row else None


async def case_by_number(
    conn: asyncpg.Connection, case_number: str, *, for_update: bool = False
) -> Row | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT * FROM cases WHERE case_number = $1{lock}", case_number)
    return dict(row) if row else None


async def update_case(conn: asyncpg.Connection, case_id: int, changes: Row) -> Row:
    sets = ", ".join(f"{col} = ${i}" for i, col in enumerate(changes, start=2))
    row = await conn.fetchrow(
        f"UPDATE cases SET {sets}, updated_at = now() WHERE id = $1 RETURNING *",
        case_id,
        *changes.values(),
    )
    assert row is not None
    return dict(row)


async def list_cases(
    conn: asyncpg.Connection,
    *,
    filters: Row,
    visible_to: Row | None,
    limit: int,
    offset: int,
) -> list[Row]:
    """Cases matching `filters` (column -> value; `overdue` is special) that the caller may
    see (`visible_to`: staff_id / department, None for everything)."""
    where: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    for column, value in filters.items():
        if value is None:
            continue
        if column == "overdue":
            clause = (
                "EXISTS (SELECT 1 FROM case_deadlines d WHERE d.case_id = cases.id"
                " AND d.breached_at IS NOT NULL AND (d.outcome IS NULL OR d.outcome = 'late'))"
            )
            where.append(clause if value else f"NOT {clause}")
        else:
            where.append(f"{column} = {arg(value)}")
    if visible_to is not None:
        me = arg(visible_to.get("staff_id"))
        if visible_to.get("department"):
            dept = arg(visible_to["department"])
            where.append(
                f"(assignee_id = {me} OR supervisor_id = {me}"
                f" OR department_code = {dept} OR handling_department = {dept})"
            )
        else:
            where.append(f"assignee_id = {me}")
    sql = "SELECT * FROM cases"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY opened_at DESC, id DESC LIMIT {arg(limit)} OFFSET {arg(offset)}"
    return [dict(r) for r in await conn.fetch(sql, *args)]


# --- deadlines ----------------------------------------------------------------------------


async def insert_deadlines(
    conn: asyncpg.Connection, case_id: int, cycle: int, deadlines: Sequence[Deadline]
) -> None:
    await conn.executemany(
        "INSERT INTO case_deadlines (case_id, cycle, limit_name, starts_at, due_at, warn_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        [(case_id, cycle, d.name.value, d.starts_at, d.due_at, d.warn_at) for d in deadlines],
    )


async def settle_deadlines(
    conn: asyncpg.Connection,
    case_id: int,
    *,
    at: datetime,
    limits: Sequence[str] | None = None,
    outcome: str | None = None,
) -> None:
    """Stop the clocks of `limits` (all when None): met or late by the due time, unless an
    outcome (withdrawn, superseded) is given."""
    await conn.execute(
        "UPDATE case_deadlines SET settled_at = $2,"
        " outcome = COALESCE($4, CASE WHEN $2 <= due_at THEN 'met' ELSE 'late' END)"
        " WHERE case_id = $1 AND settled_at IS NULL"
        " AND ($3::text[] IS NULL OR limit_name = ANY($3::text[]))",
        case_id,
        at,
        list(limits) if limits is not None else None,
        outcome,
    )


async def deadlines_of(
    conn: asyncpg.Connection, case_id: int, cycle: int | None = None
) -> list[Row]:
    rows = await conn.fetch(
        "SELECT * FROM case_deadlines WHERE case_id = $1 AND ($2::int IS NULL OR cycle = $2)"
        " ORDER BY cycle, due_at",
        case_id,
        cycle,
    )
    return [dict(r) for r in rows]


# --- audit --------------------------------------------------------------------------------


async def append_audit(
    conn: asyncpg.Connection,
    case_id: int,
    *,
    at: datetime,
    actor_id: str,
    actor_role: str,
    action: str,
    from_status: str | None,
    to_status: str | None,
    detail: Row | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO case_audit (case_id, at, actor_id, actor_role, action, from_status,"
        " to_status, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)",
        case_id,
        at,
        actor_id,
        actor_role,
        action,
        from_status,
        to_status,
        json.dumps(detail or {}, ensure_ascii=False, default=str),
    )


async def audit_of(conn: asyncpg.Connection, case_id: int) -> list[Row]:
    rows = await conn.fetch(
        "SELECT at, actor_id, actor_role, action, from_status, to_status, detail"
        " FROM case_audit WHERE case_id = $1 ORDER BY id",
        case_id,
    )
    return [{**dict(r), "detail": json.loads(r["detail"])} for r in rows]
