"""The staff roster complaints are assigned from (SQL): seeded with the development staff,
kept up to date from the follow-up service's `staff.member_saved` events."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

from complaints.assignment import Member, Workload

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


async def workload(conn: asyncpg.Connection, departments: Iterable[str]) -> Workload:
    """The active staff of `departments` with their open cases, in staff id order."""
    rows = await conn.fetch(
        "SELECT s.staff_id, s.department_code, s.role,"
        " (SELECT count(*) FROM cases c"
        "  WHERE c.assignee_id = s.staff_id AND c.finished_at IS NULL) AS open_cases"
        " FROM staff s WHERE s.active AND s.department_code = ANY($1::text[])"
        " ORDER BY s.staff_id",
        sorted(set(departments)),
    )
    return Workload(
        [Member(r["staff_id"], r["department_code"], r["role"]) for r in rows],
        {r["staff_id"]: r["open_cases"] for r in rows},
    )


async def least_loaded_staff(
    conn: asyncpg.Connection, department: str, roles: Sequence[str]
) -> str | None:
    """The active staff member of `department` with one of `roles` and the fewest open cases."""
    return (await workload(conn, [department])).least_loaded(department, roles)


async def departments_of(conn: asyncpg.Connection, staff_ids: Iterable[str]) -> dict[str, str]:
    """staff id -> department, for those of `staff_ids` on the roster."""
    rows = await conn.fetch(
        "SELECT staff_id, department_code FROM staff WHERE staff_id = ANY($1::text[])",
        list(staff_ids),
    )
    return {r["staff_id"]: r["department_code"] for r in rows}


async def staff_member(conn: asyncpg.Connection, staff_id: str) -> Row | None:
    row = await conn.fetchrow("SELECT * FROM staff WHERE staff_id = $1", staff_id)
    return dict(row) if row else None
