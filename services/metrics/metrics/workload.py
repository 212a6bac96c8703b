"""Per-staff workload in the KPI report (issue 20: calls made, reach rate, cases handled in
time): `GET /v1/kpi` carries, beside the KPIs of the period, one line per staff member with
the same figures as `GET /v1/kpi/staff` (appraisal). Staff ids are never metric labels, so
this is where a supervisor sees each member's load; the access rule is the appraisal's: a
supervisor sees their own department's staff only, an admin any department or everyone."""

from __future__ import annotations

import asyncpg
from pydantic import BaseModel

from hospital_shared.auth import Principal, Role
from metrics.appraisal import StaffFigures, figures_by_staff
from metrics.appraisal_store import staff_counts
from metrics.kpi import Window


class StaffFiguresOut(BaseModel):
    staff_id: str
    calls_made: int
    calls_reached: int
    reach_rate: float | None
    satisfaction_answers: int
    satisfaction_rate: float | None
    average_score: float | None
    cases_handled: int
    cases_in_time: int
    # first response still running: neither in time nor late yet, outside the rate
    cases_pending: int
    cases_in_time_rate: float | None

    @classmethod
    def of(cls, f: StaffFigures) -> StaffFiguresOut:
        return cls.model_validate(f, from_attributes=True)


def visible_department(principal: Principal, asked: str | None) -> tuple[bool, str | None]:
    """(whether any staff line may be shown, the department whose staff): a supervisor
    asking for another department's KPIs gets that department's KPIs but no staff lines; the
    director reads the figures, not staff by staff (appraisal is operations' and supervisors')."""
    if principal.role is Role.ADMIN:
        return True, asked
    if principal.role is Role.DIRECTOR:
        return False, None
    if principal.department is None or asked not in (None, principal.department):
        return False, None
    return True, principal.department


async def staff_workload(
    conn: asyncpg.Connection, window: Window, principal: Principal, department: str | None
) -> list[StaffFiguresOut]:
    """The staff lines of the KPI report of `window` that `principal` may read."""
    shown, scope = visible_department(principal, department)
    if not shown:
        return []
    counts = await staff_counts(conn, window, department=scope)
    return [StaffFiguresOut.of(f) for f in figures_by_staff(counts)]
