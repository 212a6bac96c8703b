"""`GET /v1/kpi/staff`: per-staff figures for the appraisal (default period: the quarter).

Supervisors read their own department's staff (the roster's department); asking for
another department is 403. Admins (operations) read any department, or all staff.
"""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict

from hospital_shared.auth import Principal, Role
from hospital_shared.http_api import WireTime, require
from hospital_shared.http_guard import GuardedRoute
from metrics.api import CSV, _csv, report_rows, settings_of, today
from metrics.appraisal import figures_by_staff
from metrics.appraisal_store import staff_counts
from metrics.kpi import Period, period_window, to_csv
from metrics.workload import StaffFiguresOut


class StaffReport(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"period": "quarter", "start": "2026-09-30T16:00:00Z",
                 "end": "2026-12-31T16:00:00Z", "timezone": "Asia/Shanghai", "department": "CARD",
                 "staff": [{"staff_id": "S-AGENT-01", "calls_made": 8, "calls_reached": 6,
                            "reach_rate": 0.75, "satisfaction_answers": 5, "satisfaction_rate": 0.8,
                            "average_score": 4.2, "cases_handled": 2, "cases_in_time": 2,
                            "cases_pending": 0, "cases_in_time_rate": 1.0}]}
            ]
        }
    )  # fmt: skip

    period: Period
    start: WireTime
    end: WireTime
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


router = APIRouter(prefix="/v1/kpi", tags=["kpi"], route_class=GuardedRoute)
Caller = Annotated[Principal, Depends(require(Role.ADMIN, Role.SUPERVISOR))]


@router.get("/staff", response_model=StaffReport)
async def staff_report(
    request: Request,
    principal: Caller,
    period: Period = Period.QUARTER,
    date_: Annotated[
        date | None, Query(alias="date", description="a day inside the period")
    ] = None,
    department: str | None = None,
    staff_id: str | None = None,
) -> StaffReport:
    """Calls made, reach rate, satisfaction and complaint cases handled in time, per
    staff member, for the quarterly appraisal (考核周期每季度一次)."""
    settings = settings_of(request)
    scope = department_for(principal, department)
    window = period_window(period, date_ or today(settings), settings.hospital_tz)
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


@router.get(
    "/report-quarter.csv",
    response_class=Response,
    responses={200: {"content": CSV, "description": "the quarter's KPIs, CSV"}},
)
async def quarterly_report(
    request: Request,
    _: Caller,
    quarter: Annotated[str, Query(pattern=r"^(19|20)\d{2}-Q[1-4]$", description="YYYY-Qn")],
) -> Response:
    """The quarter's KPI report, like the monthly one: the whole hospital and each
    department with data."""
    settings = settings_of(request)
    first = date(int(quarter[:4]), (int(quarter[-1]) - 1) * 3 + 1, 1)
    window = period_window(Period.QUARTER, first, settings.hospital_tz)
    rows = await report_rows(request, "quarter", window)
    return _csv(to_csv(rows), f"kpi-quarter-{quarter}.csv")
