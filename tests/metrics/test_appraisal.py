"""Per-staff appraisal figures and the quarter period, with figures computed by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from fastapi import HTTPException

from hospital_shared.auth import Principal, Role
from metrics.appraisal import StaffCounts, figures_by_staff, figures_of
from metrics.appraisal_api import department_for
from metrics.kpi import Period, period_window

TZ = "Asia/Shanghai"


@pytest.mark.parametrize(
    ("day", "first", "after"),
    [
        (date(2026, 1, 1), date(2026, 1, 1), date(2026, 4, 1)),
        (date(2026, 3, 31), date(2026, 1, 1), date(2026, 4, 1)),
        (date(2026, 5, 15), date(2026, 4, 1), date(2026, 7, 1)),
        (date(2026, 9, 30), date(2026, 7, 1), date(2026, 10, 1)),
        (date(2026, 12, 31), date(2026, 10, 1), date(2027, 1, 1)),
    ],
)
def test_a_quarter_is_the_calendar_quarter_containing_the_day(
    day: date, first: date, after: date
) -> None:
    w = period_window(Period.QUARTER, day, TZ)
    assert w.start.date() == first and w.end.date() == after
    # Local midnight: 1 October 00:00 in Shanghai is 30 September 16:00 UTC.
    if first == date(2026, 10, 1):
        assert w.start.astimezone(UTC) == datetime(2026, 9, 30, 16, tzinfo=UTC)


def test_figures_of_an_agent_computed_by_hand() -> None:
    # 12 attempts, 9 reached; 8 answers, 6 satisfied or fairly; scores 5+4+4+3+2 = 18 of 5;
    # 4 cases, 3 in time.
    counts = StaffCounts(
        "S-A", calls=12, reached=9, rated=8, satisfied=6, scored=5, score_sum=18, cases=4,
        cases_in_time=3,
    )  # fmt: skip
    f = figures_of(counts)
    assert (f.calls_made, f.calls_reached, f.reach_rate) == (12, 9, 0.75)
    assert (f.satisfaction_answers, f.satisfaction_rate) == (8, 0.75)
    assert f.average_score == 3.6
    assert (f.cases_handled, f.cases_in_time, f.cases_in_time_rate) == (4, 3, 0.75)


def test_nothing_to_divide_is_no_figure_not_zero() -> None:
    f = figures_of(StaffCounts("S-B", cases=2, cases_in_time=0))
    assert f.reach_rate is None and f.satisfaction_rate is None and f.average_score is None
    assert f.cases_in_time_rate == 0.0


def test_rates_are_rounded_to_four_places_and_staff_ordered() -> None:
    rows = figures_by_staff([StaffCounts("S-Z", calls=3, reached=1), StaffCounts("S-A")])
    assert [r.staff_id for r in rows] == ["S-A", "S-Z"]
    assert rows[1].reach_rate == 0.3333


def test_a_supervisor_reads_only_their_department() -> None:
    sup = Principal(role=Role.SUPERVISOR, staff_id="S-SUP-02", department="CARD")
    assert department_for(sup, None) == "CARD"
    assert department_for(sup, "CARD") == "CARD"
    with pytest.raises(HTTPException) as refused:
        department_for(sup, "CS")
    assert refused.value.status_code == 403


def test_an_admin_reads_any_department_or_all() -> None:
    admin = Principal(role=Role.ADMIN, staff_id="S-ADMIN-01")
    assert department_for(admin, None) is None
    assert department_for(admin, "CS") == "CS"
