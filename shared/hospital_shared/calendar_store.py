"""Where the working-day calendar lives at run time, and how a missing year is made loud.

The years come from two places: the files in `calendar_data/` (one per year, generated from a
library with the State Council's notices, see `tools/calendar/generate_years.py`) and the
`calendar_years` table of each service that counts working days, where operations' additions
land (complaints: the calendar API; follow-up: the `calendar.year_saved` event). A saved year
replaces the file's year. `LiveCalendar` holds the calendar in force and swaps it whole when a
year is added; every instance reloads the table periodically, so instances that did not take
the call or the event learn of it too.

A day of a year with no schedule is counted Monday to Friday, and never silently: the
`hospital_calendar_year_missing{service,year}` gauge turns 1 (the `WorkingCalendarYearMissing`
alert), `hospital_calendar_missing_year_lookups_total` counts the answers that guessed, and a
warning names the year (never a patient). Adding the year sets the gauge back to 0.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import asyncpg
import structlog
from prometheus_client import Counter, Gauge

from hospital_shared.working_calendar import (
    WorkingCalendar,
    YearSchedule,
    schedule_from_mapping,
    schedule_to_mapping,
)

DATA = Path(__file__).parent / "calendar_data"
log = structlog.get_logger(__name__)

YEAR_MISSING = Gauge(
    "hospital_calendar_year_missing",
    "1 while a working-day count touched a year with no official schedule (weekdays assumed)",
    ["service", "year"],
)
MISSING_LOOKUPS = Counter(
    "hospital_calendar_missing_year_lookups_total",
    "Working-day answers that counted a year without schedule as Monday to Friday",
    ["service", "year"],
)
LAST_YEAR_KNOWN = Gauge(
    "hospital_calendar_last_year_known",
    "The last year of the working-day calendar with an official schedule",
    ["service"],
)


_REPORTED: set[tuple[str, int]] = set()  # (service, year) logged since the year went missing


def report_missing(service: str, years: Iterable[int], *, what: str) -> None:
    """Say loudly that `what` counted `years` as Monday to Friday: the gauge behind the alert,
    a counter, and an error line once per year and process (no patient data in it)."""
    for year in sorted(years):
        MISSING_LOOKUPS.labels(service, str(year)).inc()
        YEAR_MISSING.labels(service, str(year)).set(1)
        if (service, year) not in _REPORTED:
            _REPORTED.add((service, year))
            log.error(
                "working-day calendar has no official schedule for this year: counted Monday"
                " to Friday; add the State Council's notice through the calendar API",
                year=year,
                counted_for=what,
            )


def bundled_schedules(folder: Path = DATA) -> list[YearSchedule]:
    """The years shipped as files, each checked as an API body would be."""
    return [
        schedule_from_mapping(tomllib.loads(path.read_text(encoding="utf-8")))
        for path in sorted(folder.glob("*.toml"))
    ]


async def saved_schedules(conn: asyncpg.Connection) -> list[YearSchedule]:
    rows = await conn.fetch("SELECT schedule FROM calendar_years ORDER BY year")
    return [schedule_from_mapping(json.loads(r["schedule"])) for r in rows]


async def save_schedule(conn: asyncpg.Connection, schedule: YearSchedule, *, by: str) -> None:
    await conn.execute(
        "INSERT INTO calendar_years (year, schedule, saved_by) VALUES ($1, $2::jsonb, $3)"
        " ON CONFLICT (year) DO UPDATE SET schedule = EXCLUDED.schedule,"
        " saved_by = EXCLUDED.saved_by, saved_at = now()",
        schedule.year,
        json.dumps(schedule_to_mapping(schedule), ensure_ascii=False),
        by,
    )


class LiveCalendar:
    """The calendar in force in one service process; `current` is swapped, never changed."""

    def __init__(self, service: str, schedules: Iterable[YearSchedule] = ()) -> None:
        self.service = service
        self.current = WorkingCalendar()
        self.install(*schedules)

    def install(self, *schedules: YearSchedule) -> None:
        """Put `schedules` in force (a year given again replaces the one before)."""
        calendar = self.current
        for schedule in schedules:
            calendar = calendar.with_year(schedule)
            YEAR_MISSING.labels(self.service, str(schedule.year)).set(0)
            _REPORTED.discard((self.service, schedule.year))
        self.current = calendar
        if calendar.years:
            LAST_YEAR_KNOWN.labels(self.service).set(max(calendar.years))

    async def reload(self, conn: asyncpg.Connection) -> None:
        """Exactly the files' years with the saved ones over them (a saved year that was
        deleted goes back to the file's, or to none)."""
        merged = {s.year: s for s in [*bundled_schedules(), *await saved_schedules(conn)]}
        if merged != dict(self.current.years):
            self.current = WorkingCalendar()
            self.install(*(merged[y] for y in sorted(merged)))

    def is_workday(self, day: date) -> bool:
        """`current.is_workday`, reporting a day of a year without schedule."""
        calendar = self.current
        if not calendar.knows(day.year):
            report_missing(self.service, [day.year], what="working hours")
        return calendar.is_workday(day)
