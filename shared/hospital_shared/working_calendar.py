"""China's official working-day calendar as data (pure: no I/O, no clock).

Which days are worked is set each year by the State Council's notice (国务院办公厅关于节假日安排
的通知): the public holidays and the adjusted working days (调休), weekend days that are worked
to make a holiday longer. No rule computes them, so each year is data: a `YearSchedule`, from a
file in the repo (`calendar_data/<year>.toml`) or added by operations through the API once the
notice is out. A day of a year without a schedule is counted Monday to Friday, and every answer
that leaned on such a day says which years it guessed (`missing_years`), so the caller can say
so loudly instead of guessing silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

FIRST_YEAR, LAST_YEAR = 1900, 2099  # hospital_shared.bounds: no event lies outside
SATURDAY = 5


class CalendarDataError(ValueError):
    """A schedule that cannot be the official one; `field` names what is wrong."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class YearSchedule:
    """One year's official schedule: `holidays` (days off, weekends within a holiday included)
    and `workdays` (weekend days worked, 调休); `source` says where it was taken from."""

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    source: str
    notice: str = ""


def _dates(data: Mapping[str, Any], name: str, year: int) -> frozenset[date]:
    raw = data.get(name, [])
    if not isinstance(raw, list):
        raise CalendarDataError(name, "must be a list of dates")
    days = []
    for item in raw:
        try:
            day = item if isinstance(item, date) else date.fromisoformat(str(item))
        except ValueError:
            raise CalendarDataError(
                name, f"{str(item)[:20]!r} is not a date (YYYY-MM-DD)"
            ) from None
        if day.year != year:
            raise CalendarDataError(name, f"{day.isoformat()} is not in {year}")
        days.append(day)
    return frozenset(days)


def _year(data: Mapping[str, Any]) -> int:
    year = data.get("year")
    if not isinstance(year, int) or isinstance(year, bool):
        raise CalendarDataError("year", "must be a whole number")
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise CalendarDataError("year", f"must be between {FIRST_YEAR} and {LAST_YEAR}")
    return year


def schedule_from_mapping(data: Mapping[str, Any]) -> YearSchedule:
    """A checked schedule from a TOML table or a JSON body; `CalendarDataError` names the
    field of the first mistake. An adjusted working day is always a weekend day and never a
    holiday, and a year's notice always gives holidays: anything else is a typo."""
    year = _year(data)
    holidays = _dates(data, "holidays", year)
    workdays = _dates(data, "workdays", year)
    if not holidays:
        raise CalendarDataError("holidays", "a year's schedule lists its public holidays")
    both = sorted(holidays & workdays)
    if both:
        raise CalendarDataError("workdays", f"{both[0].isoformat()} is also a holiday")
    weekday = sorted(d for d in workdays if d.weekday() < SATURDAY)
    if weekday:
        raise CalendarDataError("workdays", f"{weekday[0].isoformat()} is not a weekend day")
    source = data.get("source")
    if not isinstance(source, str) or not source.strip():
        raise CalendarDataError("source", "say where the schedule comes from")
    notice = data.get("notice", "")
    if not isinstance(notice, str):
        raise CalendarDataError("notice", "must be text")
    return YearSchedule(year, holidays, workdays, source.strip(), notice.strip())


def schedule_to_mapping(schedule: YearSchedule) -> dict[str, Any]:
    """The JSON form of a schedule (API answers, events, the database): dates in order."""
    return {
        "year": schedule.year,
        "holidays": [d.isoformat() for d in sorted(schedule.holidays)],
        "workdays": [d.isoformat() for d in sorted(schedule.workdays)],
        "source": schedule.source,
        "notice": schedule.notice,
    }


@dataclass(frozen=True)
class WorkingDay:
    """A day found by counting working days, and the years counted as Monday to Friday."""

    day: date
    missing_years: tuple[int, ...] = ()


@dataclass(frozen=True, eq=False)
class WorkingCalendar:
    """The schedules known, by year. Immutable: adding a year makes a new calendar, so an
    answer cached by one calendar is never stale."""

    years: Mapping[int, YearSchedule] = field(default_factory=dict)
    _counted: dict[tuple[date, int], WorkingDay] = field(
        default_factory=dict, init=False, repr=False
    )

    @classmethod
    def of(cls, schedules: Iterable[YearSchedule]) -> WorkingCalendar:
        return cls({s.year: s for s in schedules})

    def with_year(self, schedule: YearSchedule) -> WorkingCalendar:
        return WorkingCalendar({**self.years, schedule.year: schedule})

    def knows(self, year: int) -> bool:
        return year in self.years

    def is_workday(self, day: date) -> bool:
        """Official where the year is known; Monday to Friday where it is not."""
        schedule = self.years.get(day.year)
        if schedule is not None:
            if day in schedule.workdays:
                return True
            if day in schedule.holidays:
                return False
        return day.weekday() < SATURDAY

    def missing_years(self, first: date, last: date) -> tuple[int, ...]:
        """The years from `first` to `last` (both included) that have no schedule."""
        return tuple(y for y in range(first.year, last.year + 1) if y not in self.years)

    def working_day_after(self, day: date, days: int) -> WorkingDay:
        """The `days`-th working day after `day`. Cached per calendar: a backlog of complaints
        asks for the same few days thousands of times, each a walk over the calendar."""
        key = (day, days)
        found = self._counted.get(key)
        if found is None:
            current, counted = day, 0
            while counted < days:
                current += timedelta(days=1)
                if self.is_workday(current):
                    counted += 1
            found = WorkingDay(current, self.missing_years(day + timedelta(days=1), current))
            self._counted[key] = found
        return found
