"""Time limits as data, and the clock arithmetic behind them (pure; the calendar is injected).

A limit is a rule (`LimitRule`) built from settings: how long, in which unit, which cases it
applies to and which lifecycle step meets it. `deadlines_for` turns the rules into concrete
deadlines when a case opens (or reopens); `satisfaction_deadline` when it closes.

Working days follow China's official calendar (`hospital_shared.working_calendar`: weekends,
public holidays and the make-up working days, 调休, one schedule per year). A deadline of N
working days falls at the same local time of day on the N-th working day after the day the
clock started; one that counted a year without schedule as Monday to Friday carries those
years (`Deadline.missing_years`), and the case is flagged. Each such deadline also carries the
amount it was given and the calendar it was counted with, per year (`Deadline.counted_with`:
the schedule's stamp, None for a year counted Monday to Friday), so a year entered or corrected
later recounts exactly the deadlines counted otherwise (recount.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

from complaints.domain import PROGRESS, Category, Status
from hospital_shared.calendar_store import bundled_schedules
from hospital_shared.vocabulary import CaseLimit, ComplaintCategory
from hospital_shared.working_calendar import WorkingCalendar, YearSchedule

CalendarSource = Callable[[], WorkingCalendar]


LimitName = CaseLimit  # the vocabulary's, named here as this service always named it


Unit = Literal["hours", "days", "working_days"]
AppliesTo = Literal["all", "complex", "imaging_dispute", "on_close", "on_escalation"]


@dataclass(frozen=True, slots=True)
class LimitRule:
    name: LimitName
    amount: float
    unit: Unit
    applies_to: AppliesTo
    # The lifecycle step that meets the limit (reaching it or any later step of the main
    # line); None for the satisfaction check, which the patient's answer meets.
    met_at: Status | None


@dataclass(frozen=True, slots=True)
class Deadline:
    name: LimitName
    starts_at: datetime
    due_at: datetime
    warn_at: datetime
    # Years the count of working days took as Monday to Friday, having no official schedule.
    missing_years: tuple[int, ...] = ()
    # Working-day limits only: the working days given, and per year the count ran over the
    # stamp of the schedule it was counted with (None: Monday to Friday).
    working_days: int | None = None
    counted_with: tuple[tuple[int, str | None], ...] = ()


def default_rules(
    *,
    first_response_hours: float = 24,
    complex_answer_hours: float = 72,
    fact_finding_working_days: int = 4,
    imaging_confirmation_hours: float = 2,
    satisfaction_check_days: float = 7,
    director_decision_hours: float = 48,
) -> tuple[LimitRule, ...]:
    """The manuals' limits; every amount is a setting (`COMPLAINTS_*`)."""
    return (
        LimitRule(
            LimitName.FIRST_RESPONSE, first_response_hours, "hours", "all", Status.ACKNOWLEDGED
        ),
        # Met only by radiology's confirmation (`procedure.confirm_imaging`), no lifecycle step.
        LimitRule(
            LimitName.IMAGING_CONFIRMATION,
            imaging_confirmation_hours,
            "hours",
            "imaging_dispute",
            None,
        ),
        LimitRule(
            LimitName.FACT_FINDING,
            fact_finding_working_days,
            "working_days",
            "all",
            Status.RESOLUTION_PROPOSED,
        ),
        LimitRule(
            LimitName.COMPLEX_ANSWER, complex_answer_hours, "hours", "complex", Status.COMMUNICATED
        ),
        LimitRule(LimitName.SATISFACTION_CHECK, satisfaction_check_days, "days", "on_close", None),
        # From escalation to the director until the director's decision on the resolution.
        LimitRule(
            LimitName.DIRECTOR_DECISION,
            director_decision_hours,
            "hours",
            "on_escalation",
            Status.RESOLUTION_APPROVED,
        ),
    )


@lru_cache(maxsize=1)
def bundled_calendar() -> WorkingCalendar:
    """The calendar of the years shipped with the code (the services add the saved years)."""
    return WorkingCalendar.of(bundled_schedules())


@lru_cache(maxsize=64)
def year_stamp(schedule: YearSchedule) -> str:
    """A short fingerprint of a year's days off and make-up days (not its source's wording):
    equal for the same schedule in every instance, other for a corrected one."""
    days = ",".join(sorted(d.isoformat() for d in schedule.holidays))
    days += "|" + ",".join(sorted(d.isoformat() for d in schedule.workdays))
    return hashlib.sha256(days.encode()).hexdigest()[:16]


def counted_with(
    calendar: WorkingCalendar, start: datetime, due: datetime, tz: ZoneInfo
) -> tuple[tuple[int, str | None], ...]:
    """Per year from `start`'s to `due`'s (local), the stamp of `calendar`'s schedule for it
    (None: counted Monday to Friday)."""
    first, last = start.astimezone(tz).year, due.astimezone(tz).year
    years = calendar.years
    return tuple((y, year_stamp(years[y]) if y in years else None) for y in range(first, last + 1))


def add_working_days(
    start: datetime, days: int, *, tz: ZoneInfo, calendar: WorkingCalendar
) -> tuple[datetime, tuple[int, ...]]:
    """The same local time of day on the `days`-th working day after `start`'s local day, and
    the years counted without an official schedule."""
    local = start.astimezone(tz)
    found = calendar.working_day_after(local.date(), days)
    return datetime.combine(found.day, local.time(), tzinfo=tz), found.missing_years


def due_at(
    rule: LimitRule, start: datetime, *, tz: ZoneInfo, calendar: WorkingCalendar
) -> tuple[datetime, tuple[int, ...]]:
    if rule.unit == "hours":
        return start + timedelta(hours=rule.amount), ()
    if rule.unit == "days":
        return start + timedelta(days=rule.amount), ()
    return add_working_days(start, int(rule.amount), tz=tz, calendar=calendar)


def deadline(
    rule: LimitRule,
    start: datetime,
    *,
    tz: ZoneInfo,
    calendar: WorkingCalendar,
    warning_fraction: float,
) -> Deadline:
    """The deadline of `rule` from `start`; the warning falls at `warning_fraction` of the
    time between start and due (for working days too: 80% of the wall-clock span)."""
    due, missing = due_at(rule, start, tz=tz, calendar=calendar)
    warn = start + (due - start) * warning_fraction
    if rule.unit != "working_days":
        return Deadline(rule.name, start, due, warn, missing)
    stamps = counted_with(calendar, start, due, tz)
    return Deadline(rule.name, start, due, warn, missing, int(rule.amount), stamps)


def applies(rule: LimitRule, *, complex_: bool, category: Category) -> bool:
    if rule.applies_to == "all":
        return True
    if rule.applies_to == "complex":
        return complex_
    if rule.applies_to == ComplaintCategory.IMAGING_DISPUTE:
        return category == Category.IMAGING_DISPUTE
    return False  # on_close, on_escalation: planned when the case closes, is escalated


def deadlines_for(
    rules: Iterable[LimitRule],
    *,
    start: datetime,
    complex_: bool,
    category: Category,
    tz: ZoneInfo,
    calendar: WorkingCalendar | None = None,
    warning_fraction: float = 0.8,
) -> list[Deadline]:
    """The deadlines of a case that opens (or reopens) at `start`."""
    calendar = calendar or bundled_calendar()
    return [
        deadline(r, start, tz=tz, calendar=calendar, warning_fraction=warning_fraction)
        for r in rules
        if applies(r, complex_=complex_, category=category)
    ]


def satisfaction_deadline(
    rules: Iterable[LimitRule],
    *,
    closed_at: datetime,
    tz: ZoneInfo,
    calendar: WorkingCalendar | None = None,
    warning_fraction: float = 0.8,
) -> Deadline | None:
    return planned_deadline(
        rules,
        "on_close",
        start=closed_at,
        tz=tz,
        calendar=calendar,
        warning_fraction=warning_fraction,
    )


def planned_deadline(
    rules: Iterable[LimitRule],
    applies_to: AppliesTo,
    *,
    start: datetime,
    tz: ZoneInfo,
    calendar: WorkingCalendar | None = None,
    warning_fraction: float = 0.8,
) -> Deadline | None:
    """The deadline of the limit planned on an event (closing, escalation), if any."""
    for rule in rules:
        if rule.applies_to == applies_to:
            return deadline(
                rule,
                start,
                tz=tz,
                calendar=calendar or bundled_calendar(),
                warning_fraction=warning_fraction,
            )
    return None


def limits_met_by(rules: Iterable[LimitRule], reached: Status) -> list[LimitName]:
    """The limits a case meets by reaching `reached`."""
    progress = PROGRESS[reached]
    return [r.name for r in rules if r.met_at is not None and progress >= PROGRESS[r.met_at] > 0]


def owed_again(fresh: Iterable[Deadline], *, imaging_confirmed: bool) -> list[Deadline]:
    """The limits a reopened case runs again: all of a new cycle's but radiology's
    confirmation once given. That confirmation is a fact established for the case, not a step
    of a cycle: it is given once (`domain.check_imaging_confirmation`), so a new 2-hour clock
    on it could never be stopped and would breach."""
    return [
        d for d in fresh if not (imaging_confirmed and d.name == LimitName.IMAGING_CONFIRMATION)
    ]


@dataclass(frozen=True, slots=True)
class _OpeningRule:
    """A limit that applies to a kind of case, with its span and its warning's when they do
    not depend on the calendar (hours, days)."""

    rule: LimitRule
    span: timedelta | None
    warn: timedelta | None


def _fixed_spans(
    rule: LimitRule, warning_fraction: float
) -> tuple[timedelta | None, timedelta | None]:
    """(due, warning) after the start of a limit in hours or days: what `deadline` computes
    for every case (`start + span`, and `(due - start) * warning_fraction`, which is the
    same span as the start and due share their tzinfo), computed once (a sixth of the
    deadlines' CPU in a backlog's openings was the warning's multiplication)."""
    if rule.unit == "working_days":
        return None, None
    span = timedelta(hours=rule.amount) if rule.unit == "hours" else timedelta(days=rule.amount)
    return span, span * warning_fraction


@dataclass(frozen=True)
class CasePolicy:
    """The hospital's complaint policy, as the use cases need it (built from settings)."""

    limit_rules: tuple[LimitRule, ...]
    tz: ZoneInfo
    warning_fraction: float = 0.8
    serious_categories: tuple[str, ...] = (Category.MEDICAL_QUALITY,)
    complex_categories: tuple[str, ...] = (Category.MEDICAL_QUALITY, Category.REPORT_ERROR)
    desk_department: str = "CS"
    case_number_prefix: str = "TS"
    # Cases the director decides (with serious ones), and where imaging disputes go.
    director_categories: frozenset[str] = frozenset({"medical_quality"})
    radiology_department: str = "RAD"
    # How long ago a complaint may have been lodged when it is recorded (`submitted_at`): an
    # older one (a typo, a wrong year) would breach at once and page staff about nothing.
    oldest_submission: timedelta = timedelta(days=30)
    # The calendar in force (the service's `LiveCalendar`), asked at each use: a year added by
    # operations counts from the next deadline on.
    calendar: CalendarSource = field(default=bundled_calendar)
    _opening_rules: dict[tuple[bool, Category], tuple[_OpeningRule, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def opening_deadlines(
        self, start: datetime, *, complex_: bool, category: Category
    ) -> list[Deadline]:
        """`deadlines_for` this policy's limits: the deadlines of a case that opens (or
        reopens) at `start`. Which limits apply is kept per kind of case, as opening a backlog
        asks the same question for every case."""
        key, w = (complex_, category), self.warning_fraction
        rules = self._opening_rules.get(key)
        if rules is None:
            rules = tuple(
                _OpeningRule(r, *_fixed_spans(r, w))
                for r in self.limit_rules
                if applies(r, complex_=complex_, category=category)
            )
            self._opening_rules[key] = rules
        calendar = self.calendar()
        return [
            Deadline(o.rule.name, start, start + o.span, start + o.warn)
            if o.span is not None and o.warn is not None
            else deadline(o.rule, start, tz=self.tz, calendar=calendar, warning_fraction=w)
            for o in rules
        ]

    def planned(self, applies_to: AppliesTo, start: datetime) -> Deadline | None:
        """`planned_deadline` of this policy's limits (e.g. the director's, on escalation)."""
        return planned_deadline(
            self.limit_rules, applies_to, start=start, tz=self.tz, calendar=self.calendar(),
            warning_fraction=self.warning_fraction,
        )  # fmt: skip

    @classmethod
    def from_settings(
        cls, settings: Any, calendar: CalendarSource = bundled_calendar
    ) -> CasePolicy:
        return cls(
            calendar=calendar,
            limit_rules=settings.limit_rules(),
            tz=ZoneInfo(settings.hospital_tz),
            warning_fraction=settings.warning_fraction,
            serious_categories=tuple(settings.serious_categories),
            complex_categories=tuple(settings.complex_categories),
            desk_department=settings.desk_department,
            case_number_prefix=settings.case_number_prefix,
            director_categories=frozenset(settings.director_categories),
            radiology_department=settings.radiology_department,
            oldest_submission=timedelta(days=settings.oldest_submission_days),
        )
