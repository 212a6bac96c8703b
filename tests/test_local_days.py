"""The helper that adds up a department's KPI counts over the local days a test spans."""

from datetime import UTC, date, datetime

from tests.local_days import local_days, summed


def test_an_hour_before_and_after_local_midnight_are_two_days_in_order() -> None:
    now = datetime(2026, 12, 5, 16, 30, tzinfo=UTC)  # 00:30 on 6 December in Shanghai
    before = datetime(2026, 12, 5, 15, 30, tzinfo=UTC)
    assert local_days(now, before) == [date(2026, 12, 5), date(2026, 12, 6)]
    assert local_days(now, datetime(2026, 12, 5, 16, 1, tzinfo=UTC)) == [date(2026, 12, 6)]


def test_counts_add_up_per_key_over_the_days() -> None:
    day1 = {"survey_coverage_rate": (1, 1), "registration_dissatisfaction_rate": (0, 0)}
    day2 = {"registration_dissatisfaction_rate": (1, 1), "pending": (0, 1, 1)}
    assert summed([day1, day2]) == {
        "survey_coverage_rate": (1, 1),
        "registration_dissatisfaction_rate": (1, 1),
        "pending": (0, 1, 1),
    }
