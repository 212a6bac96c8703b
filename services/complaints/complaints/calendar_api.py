"""The working-day calendar for operations: list the years in force, add or replace a year
from the State Council's notice (admin only).

The complaints service owns the calendar API; a saved year is kept in its `calendar_years`
table and published as `calendar.year_saved` through the outbox, in the same transaction, so
every other service that counts working days (follow-up) keeps the same year: one call by
operations, no second place to forget. The year counts in this process at once, in its other
instances at their next reload (`COMPLAINTS_CALENDAR_RELOAD_INTERVAL_S`).
"""

from datetime import UTC, date, datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field

from complaints.http_deps import Ctx, Operations
from complaints.recount import recount_year
from complaints.repository import calendar_years_open_cases_lack
from complaints.responses import CalendarYears, YearOut, YearSummary
from hospital_shared.calendar_store import (
    LiveCalendar,
    bundled_schedules,
    save_schedule,
    saved_schedules,
)
from hospital_shared.events import make_event
from hospital_shared.http_api import Conn
from hospital_shared.http_guard import GuardedRoute
from hospital_shared.outbox import add_to_outbox
from hospital_shared.service_events.complaints import CalendarYearSaved
from hospital_shared.topics import CALENDAR
from hospital_shared.working_calendar import (
    FIRST_YEAR,
    LAST_YEAR,
    CalendarDataError,
    WorkingCalendar,
    YearSchedule,
    schedule_from_mapping,
    schedule_to_mapping,
)

SOURCE = "urn:hospital:complaints"
log = structlog.get_logger(__name__)


class YearIn(BaseModel):
    """A year of the official calendar, as the State Council's notice gives it."""

    model_config = ConfigDict(extra="forbid")

    holidays: list[date] = Field(max_length=366, description="every day off, weekends included")
    workdays: list[date] = Field(
        default_factory=list, max_length=366, description="weekend days worked (调休)"
    )
    source: str = Field(min_length=1, max_length=500, description="where the dates come from")
    notice: str = Field(default="", max_length=500, description="the notice's title or number")


def _live(request: Request) -> LiveCalendar:
    live: LiveCalendar = request.app.state.calendar
    return live


Live = Annotated[LiveCalendar, Depends(_live)]
YearPath = Annotated[int, Path(ge=FIRST_YEAR, le=LAST_YEAR)]


def _invalid(error: CalendarDataError) -> HTTPException:
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_ENTITY,
        detail=[{"loc": ["body", error.field], "msg": error.message, "type": "value_error"}],
    )


def _saved_event(schedule: YearSchedule, *, by: str, at: datetime) -> Any:
    data = CalendarYearSaved(
        year=schedule.year,
        holidays=sorted(schedule.holidays),
        workdays=sorted(schedule.workdays),
        source=schedule.source,
        notice=schedule.notice,
        saved_by=by,
    )
    return make_event(
        "calendar.year_saved", data, source=SOURCE, subject=str(schedule.year), time=at
    )


async def _calendar_for_save(conn: Conn) -> WorkingCalendar:
    """The calendar the open cases were counted by: the files' years and the saved ones as
    committed (this instance's copy may be a reload behind another's save), one save at a time
    (two saves of different years each recount by the other's year)."""
    await conn.execute("LOCK TABLE calendar_years IN SHARE ROW EXCLUSIVE MODE")
    return WorkingCalendar.of([*bundled_schedules(), *await saved_schedules(conn)])


router = APIRouter(prefix="/v1/calendar", tags=["working-day calendar"], route_class=GuardedRoute)


@router.get("/years", response_model=CalendarYears)
async def list_years(live: Live, conn: Conn, _: Operations) -> CalendarYears:
    """The years with an official schedule, and where each came from; and the years open
    cases counted Monday to Friday for want of one (`missing_years`)."""
    years = live.current.years
    return CalendarYears(years=[
        YearSummary(year=y, source=s.source, notice=s.notice, holidays=len(s.holidays),
                    workdays=len(s.workdays))
        for y, s in sorted(years.items())
    ], missing_years=await calendar_years_open_cases_lack(conn, known=years))  # fmt: skip


@router.get("/years/{year}", response_model=YearOut)
async def show_year(year: YearPath, live: Live, _: Operations) -> YearOut:
    schedule = live.current.years.get(year)
    if schedule is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no schedule for {year}")
    return YearOut.model_validate(schedule_to_mapping(schedule))


@router.put("/years/{year}", response_model=YearOut)
async def save_year(
    year: YearPath,
    body: YearIn,
    conn: Conn,
    live: Live,
    ctx: Ctx,
    principal: Operations,
) -> YearOut:
    """Add or replace `year` (every service that counts working days takes it); the open
    cases' working-day limits counted over it are recounted by it (`recount.py`)."""
    try:
        schedule = schedule_from_mapping({"year": year, **body.model_dump()})
    except CalendarDataError as error:
        raise _invalid(error) from None
    by, now = principal.staff_id or principal.role.value, datetime.now(UTC)
    async with conn.transaction():
        before = await _calendar_for_save(conn)
        await save_schedule(conn, schedule, by=by)
        await add_to_outbox(
            conn, _saved_event(schedule, by=by, at=now), topic=CALENDAR, key=str(year)
        )
        # The open cases' limits counted over the year, with the year saved or not at all.
        moved = await recount_year(
            conn, ctx.policy, year, before=before, after=before.with_year(schedule),
            actor=(by, principal.role.value), at=now,
        )  # fmt: skip
    live.install(schedule)
    log.info("calendar year saved", year=year, deadlines_recounted=moved)
    return YearOut.model_validate(schedule_to_mapping(schedule))
