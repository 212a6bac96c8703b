"""Time limits across weekends, the 2026 National Day holiday and its 调休 make-up days, on
China's official calendar (the bundled years, `hospital_shared/calendar_data`), plus the 80%
warning point, and the years without official schedule that a deadline must name."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from complaints.domain import Category, Status
from complaints.policy import (
    CasePolicy,
    Deadline,
    LimitName,
    LimitRule,
    add_working_days,
    bundled_calendar,
    deadlines_for,
    default_rules,
    limits_met_by,
    owed_again,
    satisfaction_deadline,
)
from hospital_shared.working_calendar import WorkingCalendar, YearSchedule

TZ = ZoneInfo("Asia/Shanghai")
RULES = default_rules()


def official_workday(day: date) -> bool:
    return bundled_calendar().is_workday(day)


def local(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


def due(limit: LimitName, start: datetime, **kw: object) -> datetime:
    deadlines = deadlines_for(
        RULES,
        start=start,
        complex_=bool(kw.get("complex_", True)),
        category=kw.get("category", Category.IMAGING_DISPUTE),  # type: ignore[arg-type]
        tz=TZ,
    )
    return next(d.due_at for d in deadlines if d.name == limit)


def test_the_official_calendar_knows_the_2026_national_day_and_its_make_up_days() -> None:
    assert not official_workday(date(2026, 10, 1))
    assert not official_workday(date(2026, 10, 7))
    assert official_workday(date(2026, 9, 20))  # Sunday, 调休 working day
    assert official_workday(date(2026, 10, 10))  # Saturday, 调休 working day
    assert not official_workday(date(2026, 10, 11))


@pytest.mark.parametrize(
    ("opened", "expected", "why"),
    [
        (local(2026, 11, 18), local(2026, 11, 24), "Wed: Thu, Fri, (weekend), Mon, Tue"),
        (local(2026, 11, 20, 16), local(2026, 11, 26, 16), "Fri: the weekend does not count"),
        (local(2026, 11, 21), local(2026, 11, 26), "opened on a Saturday: Mon..Thu"),
        (
            local(2026, 9, 30),
            local(2026, 10, 12),
            "National Day: 10-8, 10-9, Sat 10-10 调休, 10-12",
        ),
        (local(2026, 10, 3), local(2026, 10, 12), "opened inside the holiday"),
        (local(2026, 10, 9), local(2026, 10, 14), "the 调休 Saturday 10-10 counts"),
        (local(2026, 9, 18), local(2026, 9, 23), "the 调休 Sunday 9-20 counts"),
        (local(2026, 9, 24), local(2026, 10, 8), "Mid-autumn then National Day"),
    ],
)
def test_fact_finding_takes_four_working_days(
    opened: datetime, expected: datetime, why: str
) -> None:
    assert due(LimitName.FACT_FINDING, opened) == expected, why


def test_a_late_evening_case_keeps_its_time_of_day_in_local_time() -> None:
    opened = datetime(2026, 9, 30, 15, 30, tzinfo=ZoneInfo("UTC"))  # 23:30 in Shanghai
    assert due(LimitName.FACT_FINDING, opened) == local(2026, 10, 12, 23, 30)


def test_a_case_opened_at_three_in_the_morning_counts_from_that_local_day() -> None:
    """03:00 in Shanghai is 19:00 the day before in UTC: the working days count from the
    hospital's day (Tuesday 2026-11-24), not from Monday's date in UTC."""
    opened = local(2026, 11, 24, 3)
    assert opened.astimezone(ZoneInfo("UTC")).date() == date(2026, 11, 23)
    assert due(LimitName.FACT_FINDING, opened) == local(2026, 11, 30, 3)


def test_hour_limits_are_wall_clock_even_over_a_weekend_or_holiday() -> None:
    friday = local(2026, 9, 30, 16)
    assert due(LimitName.FIRST_RESPONSE, friday) == friday + timedelta(hours=24)
    assert due(LimitName.COMPLEX_ANSWER, friday) == friday + timedelta(hours=72)
    assert due(LimitName.IMAGING_CONFIRMATION, friday) == friday + timedelta(hours=2)


def test_warnings_fall_at_80_percent_of_each_limit() -> None:
    start = local(2026, 9, 30)
    by_name = {
        d.name: d
        for d in deadlines_for(
            RULES, start=start, complex_=True, category=Category.IMAGING_DISPUTE, tz=TZ
        )
    }
    assert by_name[LimitName.FIRST_RESPONSE].warn_at == start + timedelta(hours=19.2)
    assert by_name[LimitName.IMAGING_CONFIRMATION].warn_at == start + timedelta(minutes=96)
    fact = by_name[LimitName.FACT_FINDING]
    assert fact.warn_at == start + (fact.due_at - start) * 0.8


def test_which_limits_apply_to_which_case() -> None:
    def names(complex_: bool, category: Category) -> set[LimitName]:
        return {
            d.name
            for d in deadlines_for(
                RULES, start=local(2026, 11, 23), complex_=complex_, category=category, tz=TZ
            )
        }

    simple = {LimitName.FIRST_RESPONSE, LimitName.FACT_FINDING}
    assert names(False, Category.WAITING_TIME) == simple
    assert names(True, Category.MEDICAL_QUALITY) == simple | {LimitName.COMPLEX_ANSWER}
    assert names(False, Category.IMAGING_DISPUTE) == simple | {LimitName.IMAGING_CONFIRMATION}


def test_a_reopened_imaging_dispute_owes_radiologys_confirmation_again_only_if_never_given() -> (
    None
):
    fresh = CasePolicy(limit_rules=RULES, tz=TZ).opening_deadlines(
        local(2026, 11, 23), complex_=False, category=Category.IMAGING_DISPUTE
    )
    confirmed = {d.name for d in owed_again(fresh, imaging_confirmed=True)}
    assert confirmed == {LimitName.FIRST_RESPONSE, LimitName.FACT_FINDING}
    assert owed_again(fresh, imaging_confirmed=False) == fresh


def test_limits_are_configurable() -> None:
    rules = default_rules(first_response_hours=12, fact_finding_working_days=2)
    [first, fact] = deadlines_for(
        rules, start=local(2026, 9, 30), complex_=False, category=Category.OTHER, tz=TZ
    )
    assert first.due_at == local(2026, 9, 30, 22)
    assert fact.due_at == local(2026, 10, 9)


def test_the_satisfaction_check_is_due_seven_days_after_closing() -> None:
    closed = local(2026, 11, 23, 15)
    check = satisfaction_deadline(RULES, closed_at=closed, tz=TZ)
    assert check is not None and check.due_at == local(2026, 11, 30, 15)


def test_years_the_calendar_does_not_know_fall_back_to_weekdays_and_are_named() -> None:
    # The bundled years end at 2026; a 2030 case still gets a deadline, flagged.
    monday = datetime(2030, 1, 7, 9, tzinfo=TZ)
    assert add_working_days(monday, 4, tz=TZ, calendar=bundled_calendar()) == (
        datetime(2030, 1, 11, 9, tzinfo=TZ),
        (2030,),
    )


def test_a_known_year_names_no_missing_year() -> None:
    [first, fact] = deadlines_for(
        RULES, start=local(2026, 9, 30), complex_=False, category=Category.OTHER, tz=TZ
    )
    assert first.missing_years == fact.missing_years == ()


def test_only_the_working_day_limit_names_the_missing_year() -> None:
    by_name = {
        d.name: d
        for d in deadlines_for(
            RULES, start=local(2027, 3, 5), complex_=True, category=Category.IMAGING_DISPUTE, tz=TZ
        )
    }
    assert by_name[LimitName.FACT_FINDING].missing_years == (2027,)
    for hours in (
        LimitName.FIRST_RESPONSE,
        LimitName.COMPLEX_ANSWER,
        LimitName.IMAGING_CONFIRMATION,
    ):
        assert by_name[hours].missing_years == ()
    check = satisfaction_deadline(RULES, closed_at=local(2027, 3, 5), tz=TZ)
    assert check is not None and check.missing_years == ()


def test_a_deadline_reaching_into_a_missing_year_names_it() -> None:
    """Opened on 2026-12-30: the count runs into 2027, which has no schedule."""
    fact = due_deadline(LimitName.FACT_FINDING, local(2026, 12, 30))
    assert fact.due_at == local(2027, 1, 5) and fact.missing_years == (2027,)


def due_deadline(limit: LimitName, start: datetime) -> Deadline:
    return next(
        d
        for d in deadlines_for(RULES, start=start, complex_=False, category=Category.OTHER, tz=TZ)
        if d.name == limit
    )


@pytest.mark.parametrize(
    ("opened", "expected"),
    [
        (datetime(2027, 3, 5, 15, 30, tzinfo=TZ), datetime(2027, 3, 11, 15, 30, tzinfo=TZ)),
        (datetime(2030, 1, 11, 16, tzinfo=TZ), datetime(2030, 1, 17, 16, tzinfo=TZ)),
        (datetime(2027, 3, 6, 10, tzinfo=TZ), datetime(2027, 3, 11, 10, tzinfo=TZ)),
    ],
)
def test_a_friday_afternoon_complaint_does_not_count_the_weekend_in_unknown_years(
    opened: datetime, expected: datetime
) -> None:
    """A year without schedule takes the Monday-to-Friday fallback: a Friday-afternoon
    complaint's fact-finding runs Mon..Thu, and a Saturday one still ends on Thursday."""
    assert not official_workday(date(2027, 3, 6)) and not official_workday(date(2027, 3, 7))
    assert official_workday(date(2027, 3, 5)) and official_workday(date(2027, 3, 8))
    assert due(LimitName.FACT_FINDING, opened) == expected


def test_an_injected_calendar_is_used() -> None:
    every_day = WorkingCalendar.of(
        [YearSchedule(2026, frozenset(), frozenset({date(2026, 10, 3), date(2026, 10, 4)}), "t")]
    )
    assert add_working_days(local(2026, 10, 1), 4, tz=TZ, calendar=every_day) == (
        local(2026, 10, 5),
        (),
    )


def test_the_policy_asks_its_calendar_source_at_each_opening() -> None:
    """A year operations add counts from the next case on: the policy holds a source, not a
    calendar. Test data: a made-up 2027 with 3-08..3-10 off and Saturday 3-13 worked."""
    test_2027 = YearSchedule(
        2027,
        frozenset({date(2027, 3, 8), date(2027, 3, 9), date(2027, 3, 10)}),
        frozenset({date(2027, 3, 13)}),
        "test data",
    )
    calendars = [bundled_calendar()]
    policy = CasePolicy(limit_rules=RULES, tz=TZ, calendar=lambda: calendars[-1])
    before = policy.opening_deadlines(local(2027, 3, 5), complex_=False, category=Category.OTHER)
    calendars.append(bundled_calendar().with_year(test_2027))
    after = policy.opening_deadlines(local(2027, 3, 5), complex_=False, category=Category.OTHER)
    fact_before = next(d for d in before if d.name == LimitName.FACT_FINDING)
    fact_after = next(d for d in after if d.name == LimitName.FACT_FINDING)
    assert (fact_before.due_at, fact_before.missing_years) == (local(2027, 3, 11), (2027,))
    # Fri 3-5: 3-11 (Thu), 3-12 (Fri), 3-13 (the worked Saturday), 3-15 (Mon).
    assert (fact_after.due_at, fact_after.missing_years) == (local(2027, 3, 15), ())


@pytest.mark.parametrize(
    ("reached", "met"),
    [
        (Status.ACKNOWLEDGED, {"first_response"}),
        # Only radiology's confirmation meets the imaging limit, never a lifecycle step.
        (Status.INVESTIGATING, {"first_response"}),
        (Status.RESOLUTION_PROPOSED, {"first_response", "fact_finding"}),
        (Status.UNFOUNDED, {"first_response", "fact_finding"}),
        (Status.RESOLUTION_APPROVED, {"first_response", "fact_finding", "director_decision"}),
        (Status.RESOLUTION_IMPLEMENTED, {"first_response", "fact_finding", "director_decision"}),
        (
            Status.COMMUNICATED,
            {"first_response", "fact_finding", "director_decision", "complex_answer"},
        ),
        (
            Status.SUMMARY_SIGNED_OFF,
            {"first_response", "fact_finding", "director_decision", "complex_answer"},
        ),
        (Status.CLOSED, {"first_response", "fact_finding", "director_decision", "complex_answer"}),
        (Status.REOPENED, set()),
        (Status.WITHDRAWN, set()),
    ],
)
def test_reaching_a_step_meets_the_limits_up_to_it(reached: Status, met: set[str]) -> None:
    assert {m.value for m in limits_met_by(RULES, reached)} == met


def test_the_policy_plans_the_same_deadlines_for_every_kind_of_case_as_the_rules_say() -> None:
    """`CasePolicy.opening_deadlines` keeps which limits apply per kind of case: asked again
    (from its cache), and for every kind, it gives what `deadlines_for` computes afresh."""
    policy = CasePolicy(limit_rules=RULES, tz=TZ)
    for start in (local(2026, 9, 30, 16, 30), local(2026, 10, 9)):
        for category in Category:
            for complex_ in (False, True):
                expected = deadlines_for(
                    RULES, start=start, complex_=complex_, category=category, tz=TZ
                )
                for _ in range(2):
                    got = policy.opening_deadlines(start, complex_=complex_, category=category)
                    assert got == expected
    imaging = policy.opening_deadlines(
        local(2026, 10, 9), complex_=True, category=Category.IMAGING_DISPUTE
    )
    assert {d.name for d in imaging} == {
        LimitName.FIRST_RESPONSE, LimitName.IMAGING_CONFIRMATION, LimitName.FACT_FINDING,
        LimitName.COMPLEX_ANSWER,
    }  # fmt: skip


MAIN_LINE = [
    Status.ACKNOWLEDGED, Status.INVESTIGATING, Status.RESOLUTION_PROPOSED,
    Status.RESOLUTION_APPROVED, Status.COMMUNICATED, Status.CLOSED,
]  # fmt: skip


@pytest.mark.parametrize("met_at", MAIN_LINE)
def test_a_limit_is_met_by_its_step_and_every_later_one_of_the_main_line(met_at: Status) -> None:
    """Whichever step a hospital sets to meet a limit: reaching it or any later step of the
    main line meets it, an earlier one does not, and a received, reopened or withdrawn case
    meets nothing."""
    rule = LimitRule(LimitName.COMPLEX_ANSWER, 72, "hours", "all", met_at)
    for reached in MAIN_LINE:
        met = limits_met_by([rule], reached) == [LimitName.COMPLEX_ANSWER]
        assert met == (MAIN_LINE.index(reached) >= MAIN_LINE.index(met_at)), reached
    for off_the_line in (Status.RECEIVED, Status.REOPENED, Status.WITHDRAWN):
        assert limits_met_by([rule], off_the_line) == []


def test_limits_read_from_text_apply_as_the_built_in_ones_do() -> None:
    """A hospital's limits come from settings or its rule book as parsed text, not as the
    literals of `default_rules`: which cases they apply to is decided by value."""
    import json

    loaded = [
        LimitRule(LimitName(json.loads(f'"{r.name.value}"')), r.amount, json.loads(f'"{r.unit}"'),
                  json.loads(f'"{r.applies_to}"'), r.met_at)
        for r in RULES
    ]  # fmt: skip
    for complex_ in (False, True):
        for category in Category:
            start = local(2026, 11, 20, 16)
            assert deadlines_for(
                loaded, start=start, complex_=complex_, category=category, tz=TZ
            ) == deadlines_for(RULES, start=start, complex_=complex_, category=category, tz=TZ)
    check = satisfaction_deadline(loaded, closed_at=local(2026, 11, 23), tz=TZ)
    assert check is not None and check.due_at == local(2026, 11, 30)


@pytest.mark.parametrize("tz", ["Asia/Shanghai", "Europe/Berlin", "UTC"])
def test_a_policy_opens_the_deadlines_deadlines_for_gives(tz: str) -> None:
    """`CasePolicy.opening_deadlines` keeps the spans of limits in hours and days (and their
    warnings) once per kind of case: the same deadlines as `deadlines_for`'s, to the
    microsecond, for every kind of case and odd starts (a DST change in Berlin, a start at
    a local time given in another zone)."""
    zone = ZoneInfo(tz)
    policy = CasePolicy(limit_rules=default_rules(complex_answer_hours=71.3), tz=zone)
    starts = [
        datetime(2026, 3, 28, 23, 59, 59, 999999, tzinfo=zone),
        datetime(2026, 10, 24, 2, 30, 0, 1, tzinfo=zone),
        datetime(2026, 9, 30, 17, 45, 12, 345678, tzinfo=ZoneInfo("America/New_York")),
    ]
    for start in starts:
        for complex_ in (False, True):
            for category in (Category.OTHER, Category.IMAGING_DISPUTE, Category.MEDICAL_QUALITY):
                kept = policy.opening_deadlines(start, complex_=complex_, category=category)
                computed = deadlines_for(
                    policy.limit_rules, start=start, complex_=complex_, category=category, tz=zone
                )
                assert [(d, d.due_at.tzinfo, d.warn_at.tzinfo) for d in kept] == [
                    (d, d.due_at.tzinfo, d.warn_at.tzinfo) for d in computed
                ]
                assert kept == policy.opening_deadlines(start, complex_=complex_, category=category)
