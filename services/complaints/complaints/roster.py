"""The staff roster complaints are assigned from (SQL): seeded with the development staff,
kept up to date from the follow-up service's `staff.member_saved` events."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

from complaints.assignment import Member, RosterChange, Workload, roster_change

Row = dict[str, Any]

# The transaction-level advisory lock on the roster as openings read it, per schema: an opening
# holds it shared from its read of the roster to its commit, a deactivation alone while it hands
# the member's cases back (handback.py). So no opening gives the member a case from a roster read
# before they were made inactive, after their cases were handed back.
ROSTER_LOCK_KEY = "hashtext(current_schema() || ':roster')"


async def upsert_staff(
    conn: asyncpg.Connection,
    staff_id: str,
    *,
    department_code: str,
    role: str,
    active: bool,
    source: str,
    only_if_missing: bool = False,
) -> RosterChange:
    """Insert or update a member; what the change takes from them (`roster_change`: all when
    it made an active member inactive, what their new role may not hold when they stay active,
    and what is not their new department's when they move), to be handed back. The member's
    row is locked to the commit first, so two changes of one member count one deactivation, or
    one change of role or department."""
    before = None
    if not only_if_missing:
        before = await conn.fetchrow(
            "SELECT active, role, department_code FROM staff WHERE staff_id = $1 FOR UPDATE",
            staff_id,
        )
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
    if before is None:
        return RosterChange()
    return roster_change(
        was_active=before["active"], old_role=before["role"],
        old_department=before["department_code"], active=active, role=role,
        department=department_code,
    )  # fmt: skip


async def workload_to_open(conn: asyncpg.Connection, departments: Iterable[str]) -> Workload:
    """`workload` for opening cases, read under `ROSTER_LOCK_KEY` held shared to the commit: a
    deactivation under way finishes first, and one after it waits for this opening, so a case
    given meanwhile to the member made inactive is handed back too."""
    await hold_shared(conn)
    return await workload(conn, departments)


async def hold_shared(conn: asyncpg.Connection) -> None:
    """`ROSTER_LOCK_KEY` held shared to the commit: what this transaction reads of the roster
    (to give someone a case or an enquiry) stays true until it commits, or a deactivation after
    it hands back what it gave."""
    await conn.execute(f"SELECT pg_advisory_xact_lock_shared({ROSTER_LOCK_KEY})")


async def active_among(conn: asyncpg.Connection, staff_ids: Iterable[str | None]) -> set[str]:
    """Those of `staff_ids` active on the roster, read under `ROSTER_LOCK_KEY` held shared to
    the commit, as `workload_to_open` reads it (a reopening's case is given as an opening's)."""
    await hold_shared(conn)
    rows = await conn.fetch(
        "SELECT staff_id FROM staff WHERE active AND staff_id = ANY($1::text[])",
        [s for s in staff_ids if s],
    )
    return {r["staff_id"] for r in rows}


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


async def made_inactive(conn: asyncpg.Connection, staff_id: str) -> bool:
    """Whether `staff_id` is on the roster as inactive, the row locked (shared) until the
    transaction ends: a deactivation under way (it hands back the member's cases, `handback`)
    finishes first, and one after it waits. Someone not on the roster is not "made inactive"
    (the director, operations and hospital systems act without a roster row)."""
    active = await conn.fetchval("SELECT active FROM staff WHERE staff_id = $1 FOR SHARE", staff_id)
    return active is False


async def staff_member(
    conn: asyncpg.Connection, staff_id: str, *, for_share: bool = False
) -> Row | None:
    """The member on the roster; `for_share`: their row locked (shared) to the commit, so a
    deactivation under way finishes first and one after it sees what this transaction did."""
    lock = " FOR SHARE" if for_share else ""
    row = await conn.fetchrow(f"SELECT * FROM staff WHERE staff_id = $1{lock}", staff_id)
    return dict(row) if row else None
