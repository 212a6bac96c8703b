"""Recounting running working-day limits when a calendar year is entered (recount.py, pure
part): the same number of working days from the same start, by the calendar with the year;
a deadline already counted by it does not move (saving the year again changes nothing)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from complaints import repository
from complaints.domain import Category
from complaints.policy import CasePolicy, LimitName, bundled_calendar, default_rules, year_stamp
from complaints.recount import counted_days, recounted
from hospital_shared.vocabulary import FINISHED_CASE_STATUSES
from hospital_shared.working_calendar import WorkingCalendar, YearSchedule
from tests.complaints.test_calendar_2027 import TZ, year_2027

MIGRATION = (
    Path(__file__).resolve().parents[2]
    / "services/complaints/migrations/430_index_open_cases_missing_calendar.sql"
)


def running(policy: CasePolicy, lodged: datetime) -> dict[str, Any]:
    """The fact-finding row `policy` writes for a case lodged at `lodged`, as read back."""
    opened = policy.opening_deadlines(lodged, complex_=False, category=Category.WAITING_TIME)
    [d] = [d for d in opened if d.name == LimitName.FACT_FINDING]
    return {"case_id": 1, "cycle": 1, "limit_name": d.name.value, "status": "acknowledged",
            "starts_at": d.starts_at.astimezone(UTC), "due_at": d.due_at.astimezone(UTC),
            "warn_at": d.warn_at.astimezone(UTC)}  # fmt: skip


def policy_by(calendar: WorkingCalendar, **settings: Any) -> CasePolicy:
    return CasePolicy(limit_rules=default_rules(**settings), tz=TZ, calendar=lambda: calendar)


def test_a_case_lodged_before_the_festival_is_due_after_it_once_the_year_is_entered() -> None:
    """Lodged Thu 2027-02-04: counted Monday to Friday due Wed 2-10, in the festival; by the
    entered year Fri 2-5, then Mon 2-15 .. Wed 2-17."""
    before, after = bundled_calendar(), year_2027()
    row = running(policy_by(before), datetime(2027, 2, 4, 10, tzinfo=TZ))
    assert row["due_at"] == datetime(2027, 2, 10, 10, tzinfo=TZ)
    [(same, moved)] = recounted(policy_by(after), before=before, after=after, running=[row])
    assert same is row
    assert moved.due_at == datetime(2027, 2, 17, 10, tzinfo=TZ)
    assert moved.missing_years == ()
    # the warning at 80% of the new span, as a case opened now would have it
    fresh = running(policy_by(after), datetime(2027, 2, 4, 10, tzinfo=TZ))
    assert (moved.due_at, moved.warn_at) == (fresh["due_at"], fresh["warn_at"])


def test_recounting_by_the_calendar_that_counted_it_moves_nothing() -> None:
    after = year_2027()
    row = running(policy_by(after), datetime(2027, 2, 4, 10, tzinfo=TZ))
    assert recounted(policy_by(after), before=after, after=after, running=[row]) == []


def test_the_amount_given_stays_when_the_setting_changed_since() -> None:
    """Opened with 4 working days; the hospital has since set 6: the recount moves the 4 days
    over the festival, it does not lengthen the limit."""
    before, after = bundled_calendar(), year_2027()
    row = running(policy_by(before), datetime(2027, 2, 4, 10, tzinfo=TZ))
    now_six = policy_by(after, fact_finding_working_days=6)
    [(_, moved)] = recounted(now_six, before=before, after=after, running=[row])
    assert moved.due_at == datetime(2027, 2, 17, 10, tzinfo=TZ)


def test_counted_days_is_the_working_days_after_the_start_up_to_the_due_day() -> None:
    start, due = datetime(2027, 2, 4, 10, tzinfo=TZ), datetime(2027, 2, 17, 10, tzinfo=TZ)
    assert counted_days(year_2027(), start, due, TZ) == 4
    assert counted_days(bundled_calendar(), start, due, TZ) == 9


def test_the_index_and_the_queries_agree_on_what_an_open_flagged_case_is() -> None:
    """The planner uses the partial index only when the query says what its predicate says."""
    sql = MIGRATION.read_text()
    [predicate] = re.findall(r"WHERE (calendar_missing_years .*?);", sql, re.S)
    assert " ".join(predicate.split()) == repository._FLAGGED_OPEN
    assert set(re.findall(r"'(\w+)'", predicate)) == set(FINISHED_CASE_STATUSES)


def recorded(policy: CasePolicy, lodged: datetime) -> dict[str, Any]:
    """The row as written since migration 440: with the amount and the calendar counted with."""
    opened = policy.opening_deadlines(lodged, complex_=False, category=Category.WAITING_TIME)
    [d] = [d for d in opened if d.name == LimitName.FACT_FINDING]
    stamps = {str(y): s for y, s in d.counted_with}
    return {**running(policy, lodged), "working_days": d.working_days, "calendar_counted": stamps}


def test_a_deadline_records_the_schedule_of_each_year_it_was_counted_over() -> None:
    lodged = datetime(2026, 12, 28, 10, tzinfo=TZ)
    row = recorded(policy_by(bundled_calendar()), lodged)
    assert row["working_days"] == 4
    assert row["calendar_counted"] == {
        "2026": year_stamp(bundled_calendar().years[2026]),
        "2027": None,  # counted Monday to Friday
    }
    assert recorded(policy_by(year_2027()), lodged)["calendar_counted"]["2027"] is not None


def test_a_deadline_counted_with_the_calendar_in_force_is_left_whatever_its_case_says() -> None:
    """Counted with 2027 (a reopened case's new cycle): no recount moves or restamps it."""
    after = year_2027()
    row = recorded(policy_by(after), datetime(2027, 2, 4, 10, tzinfo=TZ))
    assert recounted(policy_by(after), before=bundled_calendar(), after=after, running=[row]) == []


def test_a_deadline_counted_with_a_corrected_year_is_recounted_by_its_amount() -> None:
    """Counted with the first 2027; 2027 corrected (Tue 2-16 off too): one day later, by the
    working days it was given, not by what the old or the new schedule count in its span."""
    first = year_2027()
    row = recorded(policy_by(first), datetime(2027, 2, 4, 10, tzinfo=TZ))
    old = first.years[2027]
    corrected = first.with_year(
        YearSchedule(2027, old.holidays | {date(2027, 2, 16)}, old.workdays, "TEST", "TEST")
    )
    [(_, moved)] = recounted(policy_by(corrected), before=first, after=corrected, running=[row])
    assert moved.due_at == datetime(2027, 2, 18, 10, tzinfo=TZ)
    assert (
        dict(moved.counted_with)[2027]
        == year_stamp(corrected.years[2027])
        != row["calendar_counted"]["2027"]
    )
