"""`GET /v1/kpi`: the KPI report for a hospital-local day, week or month, optionally for one
department; `GET /v1/kpi/report.csv`: the monthly report, whole hospital and per department.
Operations only: admin and supervisor tokens."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from hospital_shared.auth import Principal, Role
from hospital_shared.bounds import DATE_OUT_OF_RANGE, day_in_range
from hospital_shared.http_api import WireTime, require
from hospital_shared.http_guard import GuardedRoute, error
from metrics import queries
from metrics.kpi import KpiResult, Period, Window, evaluate_all, period_window, to_csv
from metrics.settings import Settings
from metrics.workload import StaffFiguresOut, staff_workload


class KpiOut(BaseModel):
    key: str
    title_en: str
    title_zh: str
    numerator: int
    denominator: int
    value: float | None
    target: float | None
    direction: str
    met: bool | None
    # The cohort split by where each member stands: numerator = met, denominator = met +
    # missed (what has matured), pending = windows still open (not in the rate).
    missed: int
    pending: int


class KpiReport(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"period": "month", "start": "2026-11-30T16:00:00Z", "end": "2026-12-31T16:00:00Z",
                 "timezone": "Asia/Shanghai", "department": None,
                 "kpis": [{"key": "followup_inpatient_rate", "title_en": "Inpatient follow-up rate",
                           "title_zh": "出院患者随访率", "numerator": 95, "denominator": 100,
                           "value": 0.95, "target": 0.95, "direction": ">=", "met": True,
                           "missed": 5, "pending": 3}]}
            ]
        }
    )  # fmt: skip

    period: Period
    start: WireTime = Field(description="the period's first moment (hospital-local midnight)")
    end: WireTime
    timezone: str
    department: str | None
    kpis: list[KpiOut]
    # Per-staff workload of the period (issue 20), the staff the caller may read (workload.py)
    staff: list[StaffFiguresOut] = []


DayInPeriod = Annotated[date | None, Query(alias="date", description="a day inside the period")]


class DepartmentsOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"period": "month", "start": "2026-11-30T16:00:00Z", "end": "2026-12-31T16:00:00Z",
                 "departments": ["CARD", "ORTH"]}
            ]
        }
    )  # fmt: skip

    period: Period
    start: WireTime
    end: WireTime
    departments: list[str]


def _out(r: KpiResult) -> KpiOut:
    return KpiOut(
        key=r.key,
        title_en=r.title_en,
        title_zh=r.title_zh,
        numerator=r.numerator,
        denominator=r.denominator,
        value=r.value,
        target=r.target,
        direction=">=" if r.minimum else "<=",
        met=r.met,
        missed=r.missed,
        pending=r.pending,
    )


async def _results(request: Request, window: Window, department: str | None) -> list[KpiResult]:
    settings: Settings = request.app.state.runtime.settings
    async with request.app.state.runtime.pool.acquire() as conn:
        counts = await queries.kpi_counts(
            conn,
            window,
            department=department,
            query=queries.KpiQuery.of(settings, datetime.now(UTC)),
        )
    return evaluate_all(counts, settings.effective_targets())


# Operations, supervisors and the director (院长, who reviews the hospital's KPIs and gets the
# escalations): admin, supervisor and director tokens. Staff lines follow `visible_department`.
KPI_READERS = (Role.ADMIN, Role.SUPERVISOR, Role.DIRECTOR)
router = APIRouter(
    prefix="/v1/kpi",
    tags=["kpi"],
    dependencies=[Depends(require(*KPI_READERS))],
    route_class=GuardedRoute,
)
CSV = {"text/csv": {"schema": {"type": "string"}}}
Caller = Annotated[Principal, Depends(require(*KPI_READERS))]


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.runtime.settings
    return settings


def today(settings: Settings) -> date:
    """The hospital's date now."""
    return datetime.now(ZoneInfo(settings.hospital_tz)).date()


@router.get("", response_model=KpiReport, responses={200: {"content": CSV}})
async def kpi_report(
    request: Request,
    principal: Caller,
    period: Period = Period.DAY,
    date_: DayInPeriod = None,
    department: str | None = None,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Any:
    """The KPIs of the period holding `date` (today), hospital-wide or for one department."""
    settings = settings_of(request)
    window = period_window(period, date_ or today(settings), settings.hospital_tz)
    results = await _results(request, window, department)
    if format == "csv":
        body = to_csv((period.value, window, department or "ALL", r) for r in results)
        return _csv(body, f"kpi-{period.value}-{window.start.date().isoformat()}.csv")
    return KpiReport(
        period=period,
        start=window.start,
        end=window.end,
        timezone=settings.hospital_tz,
        department=department,
        kpis=[_out(r) for r in results],
        staff=await _staff(request, window, principal, department),
    )


async def _staff(
    request: Request, window: Window, principal: Principal, department: str | None
) -> list[StaffFiguresOut]:
    async with request.app.state.runtime.pool.acquire() as conn:
        return await staff_workload(conn, window, principal, department)


def _first_of_month(month: str | None, settings: Settings) -> date:
    """The first day of `month` (YYYY-MM; this month when None), within the dates the
    service computes with; a 422 naming `month` otherwise."""
    try:
        first = date.fromisoformat(f"{month}-01") if month else today(settings).replace(day=1)
    except ValueError:
        raise HTTPException(422, detail=f"not a month: {month!r}") from None
    if not day_in_range(first):
        # 9999-12 ends in year 10000 and 0001-01 starts in year 0 once in UTC: both 500s.
        raise RequestValidationError(
            [error(["query", "month"], DATE_OUT_OF_RANGE, "date_out_of_range")]
        )
    return first


@router.get(
    "/report.csv",
    response_class=Response,
    responses={200: {"content": CSV, "description": "the month's KPIs, CSV"}},
)
async def monthly_report(
    request: Request,
    month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")] = None,
) -> Response:
    """The month's KPI report: the whole hospital and each department with data."""
    settings = settings_of(request)
    first = _first_of_month(month, settings)
    window = period_window(Period.MONTH, first, settings.hospital_tz)
    rows = await report_rows(request, "month", window)
    return _csv(to_csv(rows), f"kpi-month-{first.strftime('%Y-%m')}.csv")


@router.get("/departments", response_model=DepartmentsOut)
async def departments_with_data(
    request: Request,
    period: Period = Period.MONTH,
    date_: DayInPeriod = None,
) -> DepartmentsOut:
    """The departments with any KPI data in the period (the console's operations screen
    shows each beside the hospital; the monthly CSV lists the same)."""
    settings = settings_of(request)
    window = period_window(period, date_ or today(settings), settings.hospital_tz)
    async with request.app.state.runtime.pool.acquire() as conn:
        found = await queries.departments(conn, window)
    return DepartmentsOut(period=period, start=window.start, end=window.end, departments=found)


async def report_rows(request: Request, period: str, window: Window) -> list[Any]:
    """The report's rows (for `to_csv`): the whole hospital, then each department with data."""
    async with request.app.state.runtime.pool.acquire() as conn:
        departments = await queries.departments(conn, window)
    return [
        (period, window, department or "ALL", r)
        for department in [None, *departments]
        for r in await _results(request, window, department)
    ]


def _csv(body: str, filename: str) -> Response:
    # A BOM so that Excel opens the Chinese titles as UTF-8.
    return Response(
        "\ufeff" + body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
