"""`GET /v1/kpi/staff`: per-staff figures for the appraisal (default period: the quarter).

Supervisors read their own department's staff (the roster's department); asking for
another department is 403. Admins (operations) read any department, or all staff.
"""

from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel

from hospital_shared.auth import Principal, Role, TokenAuth
from hospital_shared.http_guard import GuardedRoute
from metrics import queries
from metrics.api import _csv, _results
from metrics.appraisal import figures_by_staff
from metrics.appraisal_store import staff_counts
from metrics.kpi import Period, period_window, to_csv
from metrics.settings import Settings
from metrics.workload import StaffFiguresOut


class StaffReport(BaseModel):
    period: Period
    start: datetime
    end: datetime
    timezone: str
    department: str | None
    staff: list[StaffFiguresOut]


def department_for(principal: Principal, asked: str | None) -> str | None:
    """The department whose staff `principal` may read: a supervisor only their own."""
    if principal.role is Role.ADMIN:
        return asked
    if principal.department is None or asked not in (None, principal.department):
        raise HTTPException(403, detail="a supervisor reads the figures of their own department")
    return principal.department


def appraisal_router(auth: TokenAuth, settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/v1/kpi", tags=["kpi"], route_class=GuardedRoute)
    caller = auth.require(Role.ADMIN, Role.SUPERVISOR)

    @router.get("/staff", response_model=StaffReport)
    async def staff_report(
        request: Request,
        principal: Annotated[Principal, Depends(caller)],
        period: Period = Period.QUARTER,
        date_: Annotated[
            date | None, Query(alias="date", description="a day inside the period")
        ] = None,
        department: str | None = None,
        staff_id: str | None = None,
    ) -> StaffReport:
        """Calls made, reach rate, satisfaction and complaint cases handled in time, per
        staff member, for the quarterly appraisal (考核周期每季度一次)."""
        scope = department_for(principal, department)
        day = date_ or datetime.now(ZoneInfo(settings.hospital_tz)).date()
        window = period_window(period, day, settings.hospital_tz)
        async with request.app.state.runtime.pool.acquire() as conn:
            counts = await staff_counts(conn, window, department=scope, staff_id=staff_id)
        return StaffReport(
            period=period,
            start=window.start,
            end=window.end,
            timezone=settings.hospital_tz,
            department=scope,
            staff=[StaffFiguresOut.of(f) for f in figures_by_staff(counts)],
        )

    csv = {"text/csv": {"schema": {"type": "string"}}}

    @router.get(
        "/report-quarter.csv",
        response_class=Response,
        dependencies=[Depends(caller)],
        responses={200: {"content": csv, "description": "the quarter's KPIs, CSV"}},
    )
    async def quarterly_report(
        request: Request,
        quarter: Annotated[str, Query(pattern=r"^(19|20)\d{2}-Q[1-4]$", description="YYYY-Qn")],
    ) -> Response:
        """The quarter's KPI report, like the monthly one: the whole hospital and each
        department with data."""
        first = date(int(quarter[:4]), (int(quarter[-1]) - 1) * 3 + 1, 1)
        window = period_window(Period.QUARTER, first, settings.hospital_tz)
        async with request.app.state.runtime.pool.acquire() as conn:
            departments = await queries.departments(conn, window)
        rows = [
            ("quarter", window, department or "ALL", r)
            for department in [None, *departments]
            for r in await _results(request, window, department)
        ]
        return _csv(to_csv(rows), f"kpi-quarter-{quarter}.csv")

    return router
