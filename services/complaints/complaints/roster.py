"""The staff roster complaints are assigned from (SQL): seeded with the development staff,
kept up to date from the follow-up service's `staff.member_saved` events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

Row = dict[str, Any]


async def upsert_staff(
    conn: asyncpg.Connection,
    staff_id: str,
    *,
    department_code: str,
    role: str,
    active: bool,
    source: str,
    only_if_missing: bool = False,
) -> None:
    conflict = (
        "DO NOTHING"
        if only_if_missing
        else "DO UPDATE SET department_code = EXCLUDED.department_code, role = EXCLUDED.role,"
        " active = EXCLUDED.active, source = EXCLUDED.source, updated_at = now()"
    )
    await conn.execute(
        "INSERT INTO staff (staff_id, department_code, role, active, source)"
        f" VALUES ($1, $2, $3, $4, $5) ON CONFLICT (staff_id) {conflict}",
        staff_id,
        department_code,
        role,
        active,
        source,
    )


async def least_loaded_staff(
    conn: asyncpg.Connection, department: str, roles: Sequence[str]
) -> str | None:
    """The active staff member of `department` with one of `roles` and the fewest open cases."""
    value = await conn.fetchval(
        "SELECT s.staff_id FROM staff s"
        " WHERE s.active AND s.department_code = $1 AND s.role = ANY($2::text[])"
        " ORDER BY (SELECT count(*) FROM cases c"
        "           WHERE c.assignee_id = s.staff_id AND c.finished_at IS NULL), s.staff_id"
        " LIMIT 1",
        department,
        list(roles),
    )
    return str(value) if value is not None else None


async def staff_member(conn: asyncpg.Connection, staff_id: str) -> Row | None:
    row = await conn.fetchrow("SELECT * FROM staff WHERE staff_id = $1", staff_id)
    return dict(row) if row else None
