"""The working-day calendar as data: the bundled years, checking a schedule, counting working
days, and naming every year counted without official schedule."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import date
from typing import Any

import pytest
import structlog

from hospital_shared.calendar_store import (
    LAST_YEAR_KNOWN,
    MISSING_LOOKUPS,
    YEAR_MISSING,
    LiveCalendar,
    bundled_schedules,
    report_missing,
)
from hospital_shared.working_calendar import (
    CalendarDataError,
    WorkingCalendar,
    WorkingDay,
    YearSchedule,
    schedule_from_mapping,
    schedule_to_mapping,
)

BUNDLED = WorkingCalendar.of(bundled_schedules())
# Test data, not an official schedule: a made-up year to count on.
TEST_2027: dict[str, Any] = {
    "year": 2027,
    "holidays": ["2027-02-08", "2027-02-09", "2027-02-10"],
    "workdays": ["2027-02-13"],
    "source": "test data",
}


def body(**changes: Any) -> dict[str, Any]:
    return {**TEST_2027, **changes}


def test_the_bundled_years_run_from_2004_to_2026_and_2027_is_missing() -> None:
    assert sorted(BUNDLED.years) == list(range(2004, 2027))
    assert not BUNDLED.knows(2027)
    assert all("chinese-calendar" in s.source for s in BUNDLED.years.values())


@pytest.mark.parametrize(
    ("day", "worked"),
    [
        (date(2026, 2, 16), False),  # Spring Festival 2026, a Monday
        (date(2026, 2, 14), True),  # Saturday worked (调休)
        (date(2026, 2, 28), True),  # Saturday worked (调休)
        (date(2026, 10, 7), False),  # National Day, a Wednesday
        (date(2026, 10, 10), True),  # Saturday worked
        (date(2026, 10, 11), False),  # an ordinary Sunday
        (date(2026, 11, 23), True),  # an ordinary Monday
        (date(2026, 11, 21), False),  # an ordinary Saturday
        (date(2025, 1, 26), True),  # Sunday worked before the 2025 Spring Festival
        (date(2025, 1, 28), False),  # 2025 Spring Festival eve
    ],
)
def test_the_bundled_years_know_holidays_and_adjusted_working_days(day: date, worked: bool) -> None:
    assert BUNDLED.is_workday(day) is worked


def test_a_year_without_schedule_is_monday_to_friday() -> None:
    assert [BUNDLED.is_workday(date(2027, 2, d)) for d in range(5, 12)] == [
        True, False, False, True, True, True, True,
    ]  # fmt: skip


def test_a_schedule_round_trips_through_its_json_form() -> None:
    schedule = schedule_from_mapping(body(notice="  N1  "))
    assert schedule == YearSchedule(
        2027,
        frozenset({date(2027, 2, 8), date(2027, 2, 9), date(2027, 2, 10)}),
        frozenset({date(2027, 2, 13)}),
        "test data",
        "N1",
    )
    again = schedule_to_mapping(schedule)
    assert again == {**body(), "notice": "N1"}
    assert schedule_from_mapping(again) == schedule


def test_toml_dates_and_no_workdays_are_accepted() -> None:
    schedule = schedule_from_mapping(
        {"year": 2027, "holidays": [date(2027, 1, 1)], "source": " lib "}
    )
    assert schedule.workdays == frozenset() and schedule.source == "lib"
    assert schedule.notice == ""


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"year": "2027"}, "year", "whole number"),
        ({"year": True}, "year", "whole number"),
        ({"year": 1899}, "year", "between 1900 and 2099"),
        ({"year": 2100}, "year", "between 1900 and 2099"),
        ({"holidays": "2027-02-08"}, "holidays", "list of dates"),
        ({"holidays": ["2027-02-30"]}, "holidays", "is not a date"),
        ({"holidays": ["2026-12-31"]}, "holidays", "2026-12-31 is not in 2027"),
        ({"holidays": ["2028-01-01"]}, "holidays", "2028-01-01 is not in 2027"),
        ({"holidays": []}, "holidays", "lists its public holidays"),
        ({"workdays": ["2027-02-11"]}, "workdays", "2027-02-11 is not a weekend day"),
        ({"workdays": ["2027-02-13", "2027-02-14"], "holidays": ["2027-02-14"]},
         "workdays", "2027-02-14 is also a holiday"),
        ({"source": "  "}, "source", "where the schedule comes from"),
        ({"source": None}, "source", "where the schedule comes from"),
        ({"notice": 3}, "notice", "must be text"),
    ],
)  # fmt: skip
def test_a_wrong_schedule_is_refused_naming_its_field(
    changes: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(CalendarDataError) as caught:
        schedule_from_mapping(body(**changes))
    assert caught.value.field == field
    assert message in caught.value.message
    assert str(caught.value) == f"{field}: {caught.value.message}"


def test_the_first_of_several_mistakes_is_named_in_date_order() -> None:
    with pytest.raises(CalendarDataError, match="2027-02-11 is not a weekend"):
        schedule_from_mapping(body(workdays=["2027-02-13", "2027-02-12", "2027-02-11"]))
    with pytest.raises(CalendarDataError, match="2027-02-13 is also"):
        schedule_from_mapping(
            body(holidays=["2027-02-14", "2027-02-13"], workdays=["2027-02-14", "2027-02-13"])
        )
    with pytest.raises(CalendarDataError, match="'2027-13-01' is not a date"):
        schedule_from_mapping(body(holidays=["2027-13-01"]))


def test_counting_working_days_over_the_2026_spring_festival() -> None:
    # Fri 2026-02-13: Sat 2-14 is worked, then 2-15..2-23 are off.
    assert BUNDLED.working_day_after(date(2026, 2, 13), 1) == WorkingDay(date(2026, 2, 14))
    assert BUNDLED.working_day_after(date(2026, 2, 13), 2) == WorkingDay(date(2026, 2, 24))
    assert BUNDLED.working_day_after(date(2026, 2, 13), 0) == WorkingDay(date(2026, 2, 13))


def test_a_count_names_every_year_it_guessed_and_only_those() -> None:
    assert BUNDLED.working_day_after(date(2026, 12, 30), 4) == WorkingDay(date(2027, 1, 5), (2027,))
    assert BUNDLED.working_day_after(date(2026, 12, 25), 3) == WorkingDay(date(2026, 12, 30))
    assert BUNDLED.working_day_after(date(2027, 12, 30), 3).missing_years == (2027, 2028)
    # A count that starts on the last day of a known year looks at the next year only.
    assert BUNDLED.working_day_after(date(2026, 12, 31), 1).missing_years == (2027,)
    assert BUNDLED.missing_years(date(2025, 5, 1), date(2028, 1, 1)) == (2027, 2028)
    assert BUNDLED.missing_years(date(2026, 1, 1), date(2026, 12, 31)) == ()


def test_adding_a_year_counts_its_days_and_leaves_the_old_calendar_alone() -> None:
    with_2027 = BUNDLED.with_year(schedule_from_mapping(TEST_2027))
    # Fri 2-5: the weekend and 2-8..2-10 are off; Thu 2-11 is the first working day.
    assert with_2027.working_day_after(date(2027, 2, 5), 2) == WorkingDay(date(2027, 2, 12))
    assert with_2027.working_day_after(date(2027, 2, 12), 1) == WorkingDay(date(2027, 2, 13))
    assert BUNDLED.working_day_after(date(2027, 2, 5), 2) == WorkingDay(date(2027, 2, 9), (2027,))
    assert with_2027.knows(2027) and not BUNDLED.knows(2027)
    assert with_2027.years[2026] is BUNDLED.years[2026]


def test_an_answer_is_the_same_when_asked_again() -> None:
    calendar = WorkingCalendar.of(bundled_schedules())
    first = calendar.working_day_after(date(2026, 9, 30), 4)
    assert calendar.working_day_after(date(2026, 9, 30), 4) is first
    assert first == WorkingDay(date(2026, 10, 12))
    assert calendar.working_day_after(date(2026, 9, 30), 5) == WorkingDay(date(2026, 10, 13))


def gauge(service: str, year: int) -> float:
    return YEAR_MISSING.labels(service, str(year))._value.get()  # type: ignore[no-any-return]


def lookups(service: str, year: int) -> float:
    return MISSING_LOOKUPS.labels(service, str(year))._value.get()  # type: ignore[no-any-return]


def test_a_day_of_a_missing_year_is_reported_loudly_until_the_year_is_added() -> None:
    live = LiveCalendar("unit-a", bundled_schedules())
    assert LAST_YEAR_KNOWN.labels("unit-a")._value.get() == 2026
    assert live.is_workday(date(2026, 10, 1)) is False
    assert lookups("unit-a", 2026) == 0 and gauge("unit-a", 2026) == 0
    assert live.is_workday(date(2031, 2, 10)) is True
    assert live.is_workday(date(2031, 2, 11)) is True
    assert gauge("unit-a", 2031) == 1 and lookups("unit-a", 2031) == 2
    live.install(schedule_from_mapping(body(year=2031, holidays=["2031-02-11"], workdays=[])))
    assert gauge("unit-a", 2031) == 0
    assert live.is_workday(date(2031, 2, 11)) is False
    assert lookups("unit-a", 2031) == 2
    assert LAST_YEAR_KNOWN.labels("unit-a")._value.get() == 2031


def test_report_missing_logs_once_per_year_and_service_until_the_year_is_added() -> None:
    with structlog.testing.capture_logs() as logs:
        report_missing("unit-b", [2033, 2032], what="a test")
        report_missing("unit-b", [2032], what="a test")
        report_missing("unit-c", [2032], what="a test")
    assert [(e["year"], e["log_level"], e["counted_for"]) for e in logs] == [
        (2032, "error", "a test"), (2033, "error", "a test"), (2032, "error", "a test"),
    ]  # fmt: skip
    assert gauge("unit-b", 2032) == gauge("unit-b", 2033) == 1
    assert lookups("unit-b", 2032) == 2 and lookups("unit-b", 2033) == 1
    LiveCalendar("unit-b").install(
        schedule_from_mapping(body(year=2032, holidays=["2032-01-01"], workdays=[]))
    )
    with structlog.testing.capture_logs() as logs:
        report_missing("unit-b", [2032, 2033], what="again")
    assert [e["year"] for e in logs] == [2032]


def test_a_calendar_starts_empty_and_reloads_what_was_saved() -> None:
    live = LiveCalendar("unit-d")
    assert live.current.years == {}
    assert live.is_workday(date(2026, 10, 1)) is True  # a Thursday, and no schedule known


def test_a_count_from_the_last_day_of_a_missing_year_into_a_known_one_names_none() -> None:
    """The day the count starts from is not counted, so its year is not named: 2003 has no
    schedule, but a count from 2003-12-31 only looks at days of 2004."""
    assert BUNDLED.working_day_after(date(2003, 12, 31), 1) == WorkingDay(date(2004, 1, 2))


def test_schedules_calendars_and_answers_cannot_be_changed_in_place() -> None:
    """A calendar's cached answers and the schedules it shares with the calendars made from
    it stay right only because nothing changes in place."""
    schedule = schedule_from_mapping(TEST_2027)
    answer = BUNDLED.working_day_after(date(2026, 9, 30), 4)
    for thing, name in ((schedule, "year"), (answer, "day"), (BUNDLED, "years")):
        with pytest.raises(FrozenInstanceError):
            setattr(thing, name, None)


@pytest.mark.parametrize("year", [1900, 2099])
def test_the_first_and_last_years_an_event_may_have_are_accepted(year: int) -> None:
    schedule = schedule_from_mapping(
        {"year": year, "holidays": [f"{year}-01-01"], "source": "test data"}
    )
    assert schedule.year == year


def test_a_long_wrong_date_is_named_by_its_first_20_characters() -> None:
    with pytest.raises(CalendarDataError) as caught:
        schedule_from_mapping(body(holidays=["2027-02-08 and then some more"]))
    assert caught.value.message == "'2027-02-08 and then ' is not a date (YYYY-MM-DD)"
