"""What staff read of the follow-up register, each read within the caller's scope and on the
access record (who read which patient's task): lists, one task, worklists, a department's
overview. The routes (api.py) only translate HTTP; the rules are here and in access.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from followup import queries, repository, roster
from followup.access import can_see, may_supervise, scope_of, supervisor_scope_refused
from followup.calls import Forbidden, NotFound
from followup.views import (
    AttemptOut,
    DepartmentOverview,
    NextCallOut,
    StaffLoad,
    TaskDetail,
    TaskOut,
    Worklist,
    task_out,
    tasks_out,
)
from hospital_shared.access_records import Read, Reader, record
from hospital_shared.auth import Principal


class NoStaffId(LookupError):
    """A worklist asked for by a caller who is no member of staff, naming nobody."""


def task_reads(rows: Any) -> list[Read]:
    """What an answer with these tasks reads: their patients' names and phones, feedback."""
    return [
        Read(r["patient_id"], "follow_up_task", r["task_id"],
             department=r["department_code"], assignee_id=r["assignee_id"])
        for r in rows
    ]  # fmt: skip


async def record_read(conn: asyncpg.Connection, principal: Principal, rows: Any) -> None:
    await record(conn, Reader.of(principal), task_reads(rows))


_OWN = "a supervisor sees their own department only"


async def _refused(
    conn: asyncpg.Connection, principal: Principal, kind: str, of: str, why: str
) -> Forbidden:
    """A read refused for scope, on record as `denied` (README: a refused read is a row too),
    with what was asked for (a department, a staff member) as its record; the error to raise."""
    await record(conn, Reader.of(principal), [Read(None, kind, of)], outcome="denied")
    return Forbidden(why)


async def list_tasks(
    conn: asyncpg.Connection,
    principal: Principal,
    filters: queries.TaskFilter,
    *,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Any]:
    """Tasks in the caller's scope matching `filters`, by due time, after `after` (due time,
    task id): a page of `limit`, and one more when more follow (not on record: not shown)."""
    if supervisor_scope_refused(principal, filters.department_code):
        raise await _refused(conn, principal, "department", str(filters.department_code), _OWN)
    scope = scope_of(principal)
    rows = await queries.list_tasks(
        conn, scope_assignee=scope.assignee_id, scope_department=scope.department_code,
        everything=scope.everything, filters=filters, limit=limit + 1, after=after,
    )  # fmt: skip
    await record_read(conn, principal, rows[:limit])
    return rows


async def task_detail(
    conn: asyncpg.Connection, principal: Principal, task_id: str, *, now: datetime, tz: ZoneInfo
) -> TaskDetail:
    """One task with its attempts and planned next calls; NotFound (a refusal on record) when
    the caller may not see it."""
    row = await repository.fetch_task(conn, task_id)
    if row is None:
        raise NotFound(task_id)
    if not _visible(principal, row):
        await record(conn, Reader.of(principal), task_reads([row]), outcome="denied")
        raise NotFound(task_id)
    attempts = await repository.attempts_of(conn, task_id)
    await record(conn, Reader.of(principal), task_reads([row]))
    planned = await repository.next_calls_of(conn, task_id)
    return TaskDetail(
        **task_out(row, now=now, tz=tz).model_dump(),
        next_calls=[
            NextCallOut(task_id=n["task_id"], status=n["status"], reason=n["plan_reason"],
                        not_before=n["not_before"], due_at=n["due_at"])
            for n in planned
        ],
        attempts=[AttemptOut(**a) for a in attempts],
    )  # fmt: skip


async def available(
    conn: asyncpg.Connection,
    principal: Principal,
    *,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Any]:
    """Unassigned open calls of the caller's department that their role may make: a page of
    `limit`, and one more when more follow (not on record)."""
    if principal.department is None:
        return []
    rows = await queries.unassigned_for(
        conn, principal.department, principal.role.value, limit=limit + 1, after=after
    )
    await record_read(conn, principal, rows[:limit])
    return rows


async def worklist(
    conn: asyncpg.Connection,
    principal: Principal,
    staff_id: str | None,
    *,
    now: datetime,
    tz: ZoneInfo,
) -> Worklist:
    """A staff member's open tasks by bucket; another's only for their supervisor."""
    whose = staff_id or principal.staff_id
    if whose is None:
        raise NoStaffId("staff_id is required for this caller")
    if whose != principal.staff_id:
        member = await roster.get_member(conn, whose)
        if not may_supervise(principal, member["department_code"] if member else None):
            why = "only a supervisor of that staff member's department"
            raise await _refused(conn, principal, "worklist", whose, why)
    rows = await queries.open_tasks_of(conn, whose)
    await record_read(conn, principal, rows)
    lists: dict[str, list[TaskOut]] = {"overdue": [], "due_today": [], "upcoming": []}
    for item in tasks_out(rows, now=now, tz=tz):
        lists[item.bucket or "upcoming"].append(item)
    return Worklist(staff_id=whose, **lists)


async def department_overview(
    conn: asyncpg.Connection, principal: Principal, code: str, *, now: datetime, tz: ZoneInfo
) -> DepartmentOverview:
    if supervisor_scope_refused(principal, code):
        raise await _refused(conn, principal, "department", code, _OWN)
    summary = await queries.department_summary(conn, code, now)
    shown = [*summary["unassigned"], *summary["overdue"]]
    await record(conn, Reader.of(principal), task_reads(shown))
    return DepartmentOverview(
        department_code=code,
        staff=[StaffLoad(**dict(r)) for r in summary["per_staff"]],
        unassigned=tasks_out(summary["unassigned"], now=now, tz=tz),
        overdue=tasks_out(summary["overdue"], now=now, tz=tz),
    )


def _visible(principal: Principal, row: Any) -> bool:
    return can_see(
        principal, assignee_id=row["assignee_id"], department_code=row["department_code"]
    )
