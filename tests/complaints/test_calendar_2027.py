"""A complaint whose fact-finding crosses the 2027 Spring Festival uses the data file's days
(issue 21). No package has the State Council's 2027 notice (chinese-calendar 1.11.0 raises for
2027), so operations supply it with `PUT /v1/calendar/years/2027`; `tests/data/calendar-2027.json`
is such a body (TEST DATA shaped like the notice: Spring Festival Sat 2-6 to Fri 2-12, Sun 1-31
and Sat 2-20 worked), checked here by the API's own model and rules."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from complaints.calendar_api import YearIn
from complaints.domain import Category
from complaints.policy import CasePolicy, LimitName, bundled_calendar, default_rules
from hospital_shared.working_calendar import WorkingCalendar, schedule_from_mapping

TZ = ZoneInfo("Asia/Shanghai")
FILE = Path(__file__).resolve().parents[1] / "data" / "calendar-2027.json"


def year_2027() -> WorkingCalendar:
    """The bundled years plus 2027 from the file, as the API takes it."""
    body = YearIn.model_validate(json.loads(FILE.read_text()))
    schedule = schedule_from_mapping({"year": 2027, **body.model_dump()})
    return bundled_calendar().with_year(schedule)


def fact_finding(lodged: datetime, calendar: WorkingCalendar) -> tuple[datetime, tuple[int, ...]]:
    policy = CasePolicy(limit_rules=default_rules(), tz=TZ, calendar=lambda: calendar)
    deadlines = policy.opening_deadlines(lodged, complex_=False, category=Category.WAITING_TIME)
    [due] = [d for d in deadlines if d.name == LimitName.FACT_FINDING]
    return due.due_at, due.missing_years


def test_the_file_is_a_valid_2027_year_with_the_spring_festival_and_a_working_weekend() -> None:
    calendar = year_2027()
    assert calendar.knows(2027)
    festival = [datetime(2027, 2, d).date() for d in range(6, 13)]
    assert not any(calendar.is_workday(d) for d in festival)
    assert calendar.is_workday(datetime(2027, 1, 31).date())  # a Sunday worked (调休)
    assert calendar.is_workday(datetime(2027, 2, 20).date())  # a Saturday worked


def test_fact_finding_over_the_spring_festival_skips_its_days() -> None:
    """Lodged Thu 2-4: Fri 2-5, then the festival to Fri 2-12 and the weekend, then Mon 2-15,
    Tue 2-16, Wed 2-17: due on 2-17 (Monday to Friday would say Wed 2-10)."""
    lodged = datetime(2027, 2, 4, 10, tzinfo=TZ)
    assert fact_finding(lodged, year_2027()) == (datetime(2027, 2, 17, 10, tzinfo=TZ), ())
    guessed = fact_finding(lodged, bundled_calendar())
    assert guessed == (datetime(2027, 2, 10, 10, tzinfo=TZ), (2027,))  # and says it guessed


def test_the_working_sunday_before_the_festival_counts() -> None:
    """Lodged Fri 1-29: Sun 1-31 is worked, so Mon 2-1, Tue 2-2, Wed 2-3: due on 2-3."""
    lodged = datetime(2027, 1, 29, 10, tzinfo=TZ)
    assert fact_finding(lodged, year_2027()) == (datetime(2027, 2, 3, 10, tzinfo=TZ), ())
    assert fact_finding(lodged, bundled_calendar())[0] == datetime(2027, 2, 4, 10, tzinfo=TZ)
