"""The operations screen (运营部): the KPI report for a day, week, month or quarter, the whole
hospital or one department, against the manuals' targets, with charts (server-rendered SVG,
`charts.py`); the period as CSV, and the monthly report as CSV and as a printable page. The
figures are the metrics service's (`/v1/kpi`), never recomputed here."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from console import departments
from console.backend import Backend, Refused, _answer
from console.charts import Bar, bar_chart, line_chart
from console.departments import name_of
from console.inbox import PageSession
from console.pages import language_of, render
from console.session import CurrentSession, Session
from hospital_shared.http_guard import GuardedRoute

router = APIRouter(route_class=GuardedRoute, include_in_schema=False)
PERIODS = ("day", "week", "month", "quarter")
TREND_PERIODS = 6
MAX_DEPARTMENTS = 15  # the comparison chart's bars
DEFAULT_KPI = "satisfaction_rate"
KPI_READERS = ("admin", "supervisor", "director")
Month = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")]


def _check(session: Session) -> None:
    if not session.has_role(*KPI_READERS):
        raise Refused("the KPI report is for operations, supervisors and the director")


def earlier(period: str, day: date, steps: int) -> date:
    """A day `steps` periods before `day`'s period (the trend's points)."""
    if period == "day":
        return day - timedelta(days=steps)
    if period == "week":
        return day - timedelta(weeks=steps)
    months = steps * (3 if period == "quarter" else 1)
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def period_label(period: str, day: date) -> str:
    if period == "day":
        return day.strftime("%m-%d")
    if period == "week":
        return f"W{day.isocalendar().week}"
    if period == "quarter":
        return f"{day.year}Q{(day.month - 1) // 3 + 1}"
    return day.strftime("%Y-%m")


def _title(kpi: dict[str, Any], lang: str) -> str:
    return str(kpi["title_zh"] if lang == "zh" else kpi["title_en"])


async def _kpis(api: Backend, session: Session, period: str, day: date, dept: str | None) -> Any:
    params = {"period": period, "date": day.isoformat(), "department": dept}
    return await api.get(session, "metrics", "/v1/kpi", params=params)


async def _report_data(
    api: Backend, session: Session, period: str, day: date, department: str | None, kpi: str
) -> dict[str, Any]:
    """The report, the departments with data, the chosen KPI over the last periods and per
    department: one round of calls side by side."""
    listed = await api.get(session, "metrics", "/v1/kpi/departments",
                           params={"period": period, "date": day.isoformat()})  # fmt: skip
    departments: list[str] = listed["departments"]
    days = [earlier(period, day, n) for n in range(TREND_PERIODS - 1, -1, -1)]
    shown = departments[:MAX_DEPARTMENTS]
    answers = await asyncio.gather(
        *(_kpis(api, session, period, d, department) for d in days),
        *(_kpis(api, session, period, day, d) for d in shown),
    )
    trend, by_department = answers[:TREND_PERIODS], answers[TREND_PERIODS:]

    def pick(report: Any) -> dict[str, Any]:
        return next((k for k in report["kpis"] if k["key"] == kpi), {"value": None})

    return {
        "report": trend[-1], "departments": departments,
        "trend": [(period_label(period, d), pick(r)["value"]) for d, r in zip(days, trend, strict=True)],
        "by_department": [(d, pick(r)) for d, r in zip(shown, by_department, strict=True)],
    }  # fmt: skip


@router.get("/operations")
async def operations_page(
    request: Request, session: PageSession, period: str = "month",
    date_: Annotated[date | None, Query(alias="date")] = None,
    department: str | None = None, kpi: str = DEFAULT_KPI,
) -> HTMLResponse:  # fmt: skip
    _check(session)
    period = period if period in PERIODS else "month"
    tz = request.app.state.settings.hospital_tz
    day = date_ or datetime.now(ZoneInfo(tz)).date()
    dept = (department or "").strip() or None
    data = await _report_data(request.app.state.backend, session, period, day, dept, kpi)
    lang = language_of(request)
    names = departments.cache_of(request).by_code  # read by PageSession
    kpis = data["report"]["kpis"]
    chosen = next((k for k in kpis if k["key"] == kpi), kpis[0] if kpis else None)
    charts = {
        "kpis": bar_chart(
            [Bar(_title(k, lang), k["value"], k["target"], k["met"]) for k in kpis],
            title=f"{period} {day}",
        ),
        "trend": line_chart(
            data["trend"], title=_title(chosen, lang) if chosen else "",
            target=chosen["target"] if chosen else None,
            lower_is_better=bool(chosen and chosen["direction"] == "<="),
        ),
        "departments": bar_chart(
            [Bar(name_of(names, d, lang), k["value"], k.get("target"), k.get("met"))
             for d, k in data["by_department"]],
            title=_title(chosen, lang) if chosen else "",
        ),
    }  # fmt: skip
    return render(
        request, "operations/page.html", **data, charts=charts, periods=PERIODS,
        period=period, day=day, department=dept, kpi=chosen["key"] if chosen else kpi,
        month=day.strftime("%Y-%m"),
    )  # fmt: skip


async def _text(request: Request, session: Session, path: str, params: dict[str, Any]) -> str:
    """A metrics answer as text (the CSV reports), refusals mapped as for any call."""
    api: Backend = request.app.state.backend
    resp = await api.client.get(
        api.urls["metrics"].rstrip("/") + path,
        params={k: v for k, v in params.items() if v},
        headers={"Authorization": f"Bearer {session.access_token}"},
    )
    if resp.status_code >= 300:
        _answer("metrics", resp)  # raises the page's outcome
    return resp.text


def _csv_response(body: str, filename: str) -> Response:
    return Response(
        body, media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )  # fmt: skip


@router.get("/operations/kpi.csv")
async def period_csv(
    request: Request, session: CurrentSession, period: str = "month",
    date_: Annotated[date | None, Query(alias="date")] = None, department: str | None = None,
) -> Response:  # fmt: skip
    _check(session)
    day = (date_ or date.today()).isoformat()
    params = {"period": period, "date": day, "department": department, "format": "csv"}
    body = await _text(request, session, "/v1/kpi", params)
    return _csv_response(body, f"kpi-{period}-{day}.csv")


@router.get("/operations/report.csv")
async def monthly_csv(request: Request, session: CurrentSession, month: Month = None) -> Response:
    _check(session)
    body = await _text(request, session, "/v1/kpi/report.csv", {"month": month})
    return _csv_response(body, f"kpi-month-{month or 'current'}.csv")


def report_sections(body: str) -> list[tuple[str, list[dict[str, str]]]]:
    """The monthly CSV as (department, its KPI rows), the whole hospital (ALL) first."""
    sections: dict[str, list[dict[str, str]]] = {}
    for row in csv.DictReader(io.StringIO(body.lstrip("\ufeff"))):
        sections.setdefault(row["department"], []).append(row)
    return sorted(sections.items(), key=lambda s: (s[0] != "ALL", s[0]))


@router.get("/operations/report")
async def printable_report(
    request: Request, session: PageSession, month: Month = None
) -> HTMLResponse:
    """The monthly report to print (or save as PDF from the browser's print dialog)."""
    _check(session)
    body = await _text(request, session, "/v1/kpi/report.csv", {"month": month})
    sections = report_sections(body)
    first = next((rows[0] for _, rows in sections if rows), None)
    return render(request, "operations/report.html", sections=sections, month=month,
                  window=first)  # fmt: skip
