"""The follow-up policy: overrides, working hours (official calendar), sampling, routes."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from followup.policy import (
    DepartmentPolicy,
    PolicyBook,
    WorkingHours,
    call_window,
    discharge_route,
    is_sampled,
    official_workday,
    outpatient_rate,
    outpatient_target,
    sample_fraction,
)
from hospital_shared.events import Disposition, VisitType

SH = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)  # type: ignore[misc]


HOURS = WorkingHours.of(DepartmentPolicy(), SH)


def test_defaults_are_the_domain_targets() -> None:
    p = DepartmentPolicy()
    assert (p.inpatient_due_days, p.max_call_attempts, p.spot_check_rate) == (3.0, 3, 0.10)
    assert outpatient_target(p, VisitType.FIRST) == 0.60
    assert outpatient_target(p, VisitType.RETURN) == 0.20


def test_outpatient_calls_are_sampled_above_the_target_for_the_unreached_share() -> None:
    p = DepartmentPolicy()
    assert outpatient_rate(p, VisitType.FIRST) == pytest.approx(0.60 / 0.85)
    assert outpatient_rate(p, VisitType.RETURN) == pytest.approx(0.20 / 0.85)
    assert outpatient_rate(DepartmentPolicy(expected_unreached_share=0), VisitType.FIRST) == 0.6
    assert outpatient_rate(DepartmentPolicy(outpatient_first_visit_rate=0.9), VisitType.FIRST) == 1


def test_department_overrides_apply_on_top_of_the_hospital_defaults() -> None:
    book = PolicyBook.build(
        {"spot_check_rate": 0.2, "retry_spacing_hours": [1, 2]},
        {"PED": {"outpatient_first_visit_rate": 1.0}},
    )
    assert book.for_department("PED").outpatient_first_visit_rate == 1.0
    assert book.for_department("PED").spot_check_rate == 0.2  # inherited
    assert book.for_department("CARD").outpatient_first_visit_rate == 0.6
    assert book.for_department("CARD").retry_spacing_hours == (1, 2)


@pytest.mark.parametrize(
    "bad",
    [
        {"outpatient_first_visit_rate": 1.5},
        {"spot_check_rate": -0.1},
        {"expected_unreached_share": 1.0},
        {"max_call_attempts": 0},
        {"deceased_handling": "cheerful_call"},
        {"working_hours_start": "18:00"},
        {"working_hours_start": "08:00", "working_hours_end": "08:00"},
        {"no_such_rule": 1},
    ],
)
def test_a_wrong_policy_is_refused_at_start(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        PolicyBook.build({}, {"CARD": bad})


def test_official_calendar_knows_holidays_and_make_up_days() -> None:
    assert not official_workday(date(2026, 10, 1))  # National Day
    assert official_workday(date(2026, 11, 23))  # an ordinary Monday
    assert not official_workday(date(2026, 11, 22))  # Sunday


def test_a_call_window_inside_working_hours_starts_at_once() -> None:
    w = call_window(HOURS, local(2026, 11, 23, 10, 0), due_in=timedelta(days=3))
    assert w.not_before == local(2026, 11, 23, 10, 0)
    assert w.due_at == local(2026, 11, 26, 10, 0)


def test_an_evening_discharge_is_called_from_the_next_morning() -> None:
    w = call_window(HOURS, local(2026, 11, 23, 20, 0), due_in=timedelta(days=3))
    assert w.not_before == local(2026, 11, 24, 8, 30)
    assert w.due_at == local(2026, 11, 26, 17, 30)  # the last working moment before +3 days


def test_a_friday_evening_discharge_skips_the_weekend() -> None:
    w = call_window(HOURS, local(2026, 11, 27, 19, 0), due_in=timedelta(days=3))
    assert w.not_before == local(2026, 11, 30, 8, 30)  # Monday
    assert w.due_at == local(2026, 11, 30, 17, 30)  # +3 days is Monday evening


def test_a_holiday_with_no_working_time_in_reach_is_due_the_first_working_day() -> None:
    w = call_window(HOURS, local(2026, 9, 30, 18, 0), due_in=timedelta(days=3))
    first_workday = next(
        date(2026, 10, d) for d in range(1, 20) if official_workday(date(2026, 10, d))
    )
    assert first_workday > date(2026, 10, 5)  # the National Day week is skipped
    assert w.not_before == datetime.combine(first_workday, HOURS.start, SH)
    assert w.due_at == datetime.combine(first_workday, HOURS.end, SH)


def test_working_hours_are_per_department_data() -> None:
    p = DepartmentPolicy(working_hours_start="09:00", working_hours_end="12:00")
    hours = WorkingHours.of(p, SH)
    assert hours.next_open(local(2026, 11, 23, 13, 0)) == local(2026, 11, 24, 9, 0)


def test_sampling_is_deterministic_and_close_to_the_rate() -> None:
    keys = [f"R{i:07d}" for i in range(20000)]
    assert [is_sampled(k, 0.6) for k in keys[:50]] == [is_sampled(k, 0.6) for k in keys[:50]]
    share = sum(is_sampled(k, 0.6) for k in keys) / len(keys)
    assert 0.58 < share < 0.62
    share = sum(is_sampled(k, 0.2) for k in keys) / len(keys)
    assert 0.18 < share < 0.22
    assert not any(is_sampled(k, 0.0) for k in keys[:100])
    assert all(is_sampled(k, 1.0) for k in keys[:100])
    assert 0 <= sample_fraction("x") < 1


def test_retry_spacing_follows_the_policy_and_repeats_the_last_gap() -> None:
    p = DepartmentPolicy(retry_spacing_hours=(2.0, 24.0))
    assert [p.retry_spacing(n) for n in (1, 2, 3)] == [
        timedelta(hours=2),
        timedelta(hours=24),
        timedelta(hours=24),
    ]


def test_a_deceased_patient_gets_no_call_by_default() -> None:
    route = discharge_route(DepartmentPolicy(), Disposition.DECEASED)
    assert route.kind is None and route.rule == "inpatient.deceased.no_call"


def test_bereavement_calls_go_to_a_supervisor_without_sms_survey() -> None:
    route = discharge_route(
        DepartmentPolicy(deceased_handling="bereavement_call"), Disposition.DECEASED
    )
    assert route.kind == "bereavement_call"
    assert route.roles == ("supervisor",)
    assert route.survey_invitation is False


def test_transfers_get_a_doctor_check_not_a_satisfaction_survey() -> None:
    route = discharge_route(DepartmentPolicy(), Disposition.TRANSFERRED)
    assert (route.kind, route.roles, route.survey_invitation) == (
        "transfer_check",
        ("doctor",),
        False,
    )
    off = discharge_route(DepartmentPolicy(transferred_handling="none"), Disposition.TRANSFERRED)
    assert off.kind is None


def test_against_medical_advice_is_a_doctors_call() -> None:
    route = discharge_route(DepartmentPolicy(), Disposition.AGAINST_MEDICAL_ADVICE)
    assert (route.kind, route.roles) == ("inpatient_discharge", ("doctor",))


def test_a_home_discharge_is_a_normal_call_for_agents_or_doctors() -> None:
    route = discharge_route(DepartmentPolicy(), Disposition.HOME)
    assert (route.kind, route.rule) == ("inpatient_discharge", "inpatient.every_discharge")
    assert set(route.roles) == {"agent", "doctor"}


def test_a_moment_exactly_at_opening_time_is_inside_working_hours() -> None:
    opening = local(2026, 11, 23, 8, 30)  # a Monday
    assert HOURS.last_open_before(opening) == opening
    assert HOURS.next_open(opening) == opening


def test_a_departments_handling_read_from_its_settings_text_is_honoured() -> None:
    """Department policies come from settings JSON, whose strings are not the literals in the
    code: `none`, `transfer_check` and `bereavement_call` are told apart by value."""
    import json

    text = (
        '{"ICU": {"transferred_handling": "transfer_check", "deceased_handling": '
        '"bereavement_call"}, "ER": {"transferred_handling": "none"}}'
    )
    book = PolicyBook.build({}, json.loads(text))
    icu = discharge_route(book.for_department("ICU"), Disposition.TRANSFERRED)
    assert icu.kind == "transfer_check"
    assert discharge_route(book.for_department("ER"), Disposition.TRANSFERRED).kind is None
    bereaved = discharge_route(book.for_department("ICU"), Disposition.DECEASED)
    assert bereaved.kind == "bereavement_call"


def test_a_spot_check_is_due_within_three_days_and_a_second_call_within_one() -> None:
    p = DepartmentPolicy()
    assert (p.spot_check_due_days, p.second_call_due_days) == (3.0, 1.0)


def test_years_the_calendar_does_not_know_work_monday_to_friday() -> None:
    """From the year chinese-calendar does not know, Monday..Friday are working days and the
    weekend is not (2030-01-07 is a Monday)."""
    week = [official_workday(date(2030, 1, 7) + timedelta(days=d)) for d in range(7)]
    assert week == [True, True, True, True, True, False, False]


def test_a_night_shift_department_is_callable_from_midnight() -> None:
    night = WorkingHours.of(
        DepartmentPolicy(working_hours_start="00:00", working_hours_end="08:00"), SH
    )
    after_the_shift = local(2026, 11, 23, 9, 0)  # a Monday
    assert night.next_open(after_the_shift) == local(2026, 11, 24, 0, 0)


def test_the_last_working_moment_is_looked_for_sixty_days_back_at_most() -> None:
    """The longest holiday with its weekends is well under 60 days: a calendar without a
    working day in the 60 days before `moment` gives none, one 59 days back is found."""
    moment = local(2026, 11, 23, 12, 0)

    def only(day: date) -> WorkingHours:
        return WorkingHours(SH, HOURS.start, HOURS.end, is_workday=lambda d: d == day)

    found = only(moment.date() - timedelta(days=59)).last_open_before(moment)
    assert found == datetime.combine(moment.date() - timedelta(days=59), HOURS.end, SH)
    assert only(moment.date() - timedelta(days=60)).last_open_before(moment) is None


def test_a_third_retry_gap_is_used_for_the_third_retry() -> None:
    p = DepartmentPolicy(retry_spacing_hours=(1.0, 4.0, 24.0), max_call_attempts=4)
    assert [p.retry_spacing(n) for n in (1, 2, 3)] == [
        timedelta(hours=1), timedelta(hours=4), timedelta(hours=24),
    ]  # fmt: skip


def test_a_department_without_retry_gaps_retries_after_four_hours() -> None:
    assert DepartmentPolicy(retry_spacing_hours=()).retry_spacing(1) == timedelta(hours=4)


def test_a_department_off_the_official_calendar_works_monday_to_friday() -> None:
    plain = WorkingHours.of(DepartmentPolicy(use_official_calendar=False), SH)
    national_day_week = [plain.is_workday(date(2026, 9, 28) + timedelta(days=d)) for d in range(7)]
    assert national_day_week == [True, True, True, True, True, False, False]


def test_the_next_working_moment_is_looked_for_sixty_days_ahead_at_most() -> None:
    moment = local(2026, 11, 23, 12, 0)

    def only(day: date) -> WorkingHours:
        return WorkingHours(SH, HOURS.start, HOURS.end, is_workday=lambda d: d == day)

    day_59 = moment.date() + timedelta(days=59)
    assert only(day_59).next_open(moment) == datetime.combine(day_59, HOURS.start, SH)
    with pytest.raises(ValueError, match="60 days"):
        only(moment.date() + timedelta(days=60)).next_open(moment)


def test_the_last_working_moment_before_a_morning_is_a_late_closing_the_evening_before() -> None:
    late = WorkingHours.of(
        DepartmentPolicy(working_hours_start="08:00", working_hours_end="23:59"), SH
    )
    assert late.last_open_before(local(2026, 11, 24, 6, 0)) == local(2026, 11, 23, 23, 59)


def test_a_call_cannot_start_at_the_closing_minute_and_one_attempt_is_a_policy() -> None:
    closing = local(2026, 11, 23, 17, 30)  # a Monday
    assert HOURS.next_open(closing) == local(2026, 11, 24, 8, 30)
    assert DepartmentPolicy(max_call_attempts=1).max_call_attempts == 1
