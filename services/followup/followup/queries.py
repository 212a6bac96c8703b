"""Read-side SQL of the follow-up register: filtered task lists (always within the caller's
scope), a staff member's open tasks, and a department's overview."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from followup.repository import TASK_COLUMNS


@dataclass(frozen=True)
class TaskFilter:
    patient_id: str | None = None
    status: str | None = None
    assignee_id: str | None = None
    department_code: str | None = None
    kind: str | None = None
    overdue_at: datetime | None = None  # only open tasks due before this moment


def _where(
    *, scope_assignee: str | None, scope_department: str | None, everything: bool, f: TaskFilter
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []

    def add(sql: str, value: Any) -> None:
        args.append(value)
        clauses.append(sql.replace("?", f"${len(args)}"))

    if not everything:
        scope: list[str] = []
        if scope_assignee is not None:
            args.append(scope_assignee)
            scope.append(f"assignee_id = ${len(args)}")
        if scope_department is not None:
            args.append(scope_department)
            scope.append(f"department_code = ${len(args)}")
        clauses.append("(" + (" OR ".join(scope) or "false") + ")")
    for column, value in (
        ("patient_id", f.patient_id),
        ("status", f.status),
        ("assignee_id", f.assignee_id),
        ("department_code", f.department_code),
        ("kind", f.kind),
    ):
        if value is not None:
            add(f"{column} = ?", value)
    if f.overdue_at is not None:
        add("status IN ('planned', 'assigned') AND due_at < ?", f.overdue_at)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


async def list_tasks(
    conn: asyncpg.Connection,
    *,
    scope_assignee: str | None,
    scope_department: str | None,
    everything: bool,
    filters: TaskFilter,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> list[asyncpg.Record]:
    """Up to `limit` tasks by due time (then id), those after `after` (due time, task id):
    a keyset page, as cheap at the thousandth page as at the first."""
    where, args = _where(
        scope_assignee=scope_assignee,
        scope_department=scope_department,
        everything=everything,
        f=filters,
    )
    if after is not None:
        args += list(after)
        keyset = f"(due_at, task_id) > (${len(args) - 1}, ${len(args)})"
        where = f"{where} AND {keyset}" if where else f" WHERE {keyset}"
    args.append(limit)
    return await conn.fetch(
        f"SELECT {TASK_COLUMNS} FROM follow_up_tasks{where}"
        f" ORDER BY due_at, task_id LIMIT ${len(args)}",
        *args,
    )


async def open_tasks_of(conn: asyncpg.Connection, staff_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {TASK_COLUMNS} FROM follow_up_tasks"
        f" WHERE assignee_id = $1 AND status = 'assigned' ORDER BY due_at, task_id",
        staff_id,
    )


async def unassigned_for(
    conn: asyncpg.Connection,
    department: str,
    role: str,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> list[asyncpg.Record]:
    """Open calls of `department` nobody has yet that `role` may make, soonest due first;
    those after `after` (due time, task id) when given."""
    return await conn.fetch(
        f"SELECT {TASK_COLUMNS} FROM follow_up_tasks WHERE department_code = $1"
        f" AND status = 'planned' AND assignee_id IS NULL AND $2 = ANY(roles)"
        f" AND ($4::timestamptz IS NULL OR (due_at, task_id) > ($4, $5))"
        f" ORDER BY due_at, task_id LIMIT $3",
        department, role, limit, *(after or (None, None)),
    )  # fmt: skip


async def department_summary(
    conn: asyncpg.Connection, department: str, now: datetime
) -> dict[str, Any]:
    per_staff = await conn.fetch(
        "SELECT assignee_id, count(*) AS open_tasks,"
        " count(*) FILTER (WHERE due_at < $2) AS overdue"
        " FROM follow_up_tasks WHERE department_code = $1 AND status = 'assigned'"
        " GROUP BY assignee_id ORDER BY assignee_id",
        department, now,
    )  # fmt: skip
    unassigned = await conn.fetch(
        f"SELECT {TASK_COLUMNS} FROM follow_up_tasks"
        f" WHERE department_code = $1 AND status = 'planned' ORDER BY due_at LIMIT 200",
        department,
    )
    overdue = await conn.fetch(
        f"SELECT {TASK_COLUMNS} FROM follow_up_tasks WHERE department_code = $1"
        f" AND status IN ('planned', 'assigned') AND due_at < $2 ORDER BY due_at LIMIT 200",
        department, now,
    )  # fmt: skip
    return {"per_staff": per_staff, "unassigned": unassigned, "overdue": overdue}
