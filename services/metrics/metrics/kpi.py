"""The KPIs operations review, as pure arithmetic: periods in hospital-local time, and each
KPI's numerator, denominator, value, target and whether it is met.

Every rate is a cohort rate: the cohort is a set of things that happened in the period
(discharges, visits, cases opened, answers given, messages sent), and the numerator is the
part of that same set that reached the outcome, whenever the outcome happened.

A member of a cohort whose window is still open (a call not yet due, a complaint's 24 h
clock still running) is **pending**: neither met nor missed. The denominator is the matured
part of the cohort (met + missed), so a complaint opened a minute ago is not a missed 24 h
answer; `pending` is reported beside it (`clock_outcome` is the rule, the SQL in `queries`
applies it).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from hospital_shared.time_limits import past_due


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"  # the appraisal period (考核周期每季度一次)


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open interval [start, end) of aware datetimes."""

    start: datetime
    end: datetime


def period_window(period: Period, day: date, tz: str) -> Window:
    """The local day, ISO week (Monday first), calendar month or calendar quarter
    (Jan-Mar, Apr-Jun, Jul-Sep, Oct-Dec) containing `day`."""
    if period is Period.DAY:
        first, after = day, day + timedelta(days=1)
    elif period is Period.WEEK:
        first = day - timedelta(days=day.weekday())
        after = first + timedelta(days=7)
    elif period is Period.QUARTER:
        first = day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
        after = (first + timedelta(days=95)).replace(day=1)
    else:
        first = day.replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
    zone = ZoneInfo(tz)
    return Window(datetime.combine(first, time(), zone), datetime.combine(after, time(), zone))


def rolling_window(now: datetime, *, days: int, offset_days: int, tz: str) -> Window:
    """The `days` whole local days that ended `offset_days` local days before today."""
    today = now.astimezone(ZoneInfo(tz)).date()
    last = today - timedelta(days=offset_days)
    zone = ZoneInfo(tz)
    return Window(
        datetime.combine(last - timedelta(days=days), time(), zone),
        datetime.combine(last, time(), zone),
    )


@dataclass(frozen=True, slots=True)
class KpiDefinition:
    """Everything about one KPI, in one place: the report (`/v1/kpi`, the CSV), the KPI
    gauges, the alert rules (`alerting`) and the dashboard panels (`dashboards`) are generated
    from it. `query` names the count source in `queries.SOURCES` that computes it; a KPI whose
    source is missing, or does not return its key, fails at start-up (`queries.check`)."""

    key: str
    title_en: str
    title_zh: str
    # True: the value must be >= target (a floor); False: <= target (a ceiling).
    minimum: bool
    numerator: str
    denominator: str
    query: str
    # The hospitals' own target share (0..1, ../shared/DOMAIN.md); None: measured, no target.
    # METRICS_KPI_TARGETS overrides it.
    target: float | None = None
    # Besides the overview: the service dashboard that shows its panel, with a shorter title
    # there when given (English, Chinese).
    dashboard: str | None = None
    panel_title: tuple[str, str] | None = None


KPIS: tuple[KpiDefinition, ...] = (
    KpiDefinition(
        "followup_inpatient_rate",
        "Inpatient follow-up rate",
        "出院患者回访率",
        True,
        "discharges in the period whose patient was reached by a follow-up call (any time)",
        "discharges in the period, not cancelled, disposition not excluded (e.g. deceased)",
        query="followup",
        target=0.95,
        dashboard="followup",
        panel_title=("Inpatient follow-up rate (cohort)", "出院患者回访率（队列）"),
    ),
    KpiDefinition(
        "followup_outpatient_rate",
        "Outpatient follow-up rate",
        "门诊患者回访率",
        True,
        "outpatient visits in the period whose patient was reached by a follow-up call",
        "outpatient visits in the period, not cancelled and not no-shows",
        query="followup",
        target=0.20,
    ),
    KpiDefinition(
        "followup_first_visit_rate",
        "First-visit follow-up rate",
        "初诊患者回访率",
        True,
        "first visits in the period whose patient was reached by a follow-up call",
        "first visits (初诊) in the period, not cancelled and not no-shows",
        query="followup",
        target=0.60,
    ),
    KpiDefinition(
        "satisfaction_rate",
        "Patient satisfaction rate",
        "患者满意率",
        True,
        "patient contacts whose one answer in the period was satisfied or fairly satisfied",
        "patient contacts (a visit or discharge, or a call of another kind) answered in the period:"
        " the first answer, by call or SMS survey, never both; quality checks apart",
        query="answers",
        target=0.95,
    ),
    KpiDefinition(
        "registration_dissatisfaction_rate",
        "Dissatisfaction with registration",
        "挂号不满意率",
        False,
        "dissatisfied answers to registration (挂号) questions in the period, calls and surveys",
        "answers to registration questions given in the period, calls and surveys",
        query="aspects",
        target=0.02,
    ),
    KpiDefinition(
        "guidance_dissatisfaction_rate",
        "Dissatisfaction with guidance staff",
        "导医不满意率",
        False,
        "dissatisfied answers to guidance-staff (导医) questions in the period, calls and surveys",
        "answers to guidance-staff questions given in the period, calls and surveys",
        query="aspects",
        target=0.02,
    ),
    KpiDefinition(
        "survey_coverage_rate",
        "Satisfaction survey coverage",
        "满意度调查覆盖率",
        True,
        "visits and discharges in the period with a satisfaction answer, by call or SMS survey",
        "outpatient visits and discharges in the period, once answered or past the time their"
        " call or SMS survey could be answered",
        query="followup",
        target=0.50,
    ),
    KpiDefinition(
        "complaint_first_response_rate",
        "Complaint first response within 24 h",
        "投诉24小时内首次答复率",
        True,
        "cases opened in the period answered within the first-response limit",
        "cases opened in the period, not withdrawn",
        query="complaints",
        target=1.0,
        dashboard="complaints",
        panel_title=("First response within 24 h", "24小时内首次答复率"),
    ),
    KpiDefinition(
        "complaint_fact_finding_rate",
        "Fact-finding within 4 working days",
        "4个工作日内完成调查率",
        True,
        "cases opened in the period whose fact-finding finished without a breach",
        "cases opened in the period, not withdrawn",
        query="complaints",
        target=1.0,
    ),
    KpiDefinition(
        "complaint_handling_satisfaction_rate",
        "Complaint-handling satisfaction",
        "投诉处理满意率",
        True,
        "satisfied answers in the period",
        "complaint-handling satisfaction answers given in the period",
        query="complaints",
        target=0.98,
        dashboard="complaints",
    ),
    KpiDefinition(
        "no_show_rate",
        "Appointment no-show rate",
        "预约爽约率",
        False,
        "registrations with a visit in the period where the patient did not come",
        "registrations with a visit in the period, not cancelled",
        query="followup",
    ),
    KpiDefinition(
        "sms_delivery_rate",
        "SMS delivery rate",
        "短信送达率",
        True,
        "SMS created in the period and delivered",
        "SMS created in the period and handed to the gateway (or failed)",
        query="sms",
        dashboard="notifications",
        panel_title=("SMS delivery rate (cohort)", "短信送达率（队列）"),
    ),
)

# Enquiries (咨询) answered within their limit (24 h, complex 48 h; on site 30 min, complex 2 h),
# for all channels and per channel; the report is per department too.
KPIS += (
    KpiDefinition(
        "enquiry_answered_in_time_rate",
        "Enquiries answered in time",
        "咨询按时答复率",
        True,
        "enquiries taken in the period answered within their time limit",
        "enquiries taken in the period, not turned into a complaint",
        query="enquiries",
        dashboard="complaints",
    ),
    *(
        KpiDefinition(
            f"enquiry_answered_in_time_rate_{channel}",
            f"Enquiries answered in time ({en})",
            f"{zh}咨询按时答复率",
            True,
            f"{en} enquiries taken in the period answered within their time limit",
            f"{en} enquiries taken in the period, not turned into a complaint",
            query="enquiries",
        )
        for channel, en, zh in (
            ("phone", "phone", "电话"),
            ("onsite", "on site", "现场"),
            ("online", "online", "网上"),
        )
    ),
)

# Praise and suggestions (表扬、建议) in the monthly report: their counts are the numerators.
KPIS += (
    KpiDefinition(
        "praise_share",
        "Praise among patient feedback",
        "表扬占反馈比例",
        True,
        "praise received in the period",
        "praise, suggestions and complaint cases received in the period",
        query="enquiries",
    ),
    KpiDefinition(
        "suggestion_share",
        "Suggestions among patient feedback",
        "建议占反馈比例",
        True,
        "suggestions received in the period",
        "praise, suggestions and complaint cases received in the period",
        query="enquiries",
    ),
    KpiDefinition(
        "suggestion_adoption_rate",
        "Suggestions adopted",
        "建议采纳率",
        True,
        "suggestions answered in the period and adopted",
        "suggestions answered in the period",
        query="enquiries",
    ),
)

# The complaint procedure (issue 21), of the cases opened in the period: measured, no target.
KPIS += (
    KpiDefinition(
        "complaint_founded_rate",
        "Complaints found founded",
        "投诉成立率",
        True,
        "cases opened in the period decided founded",
        "cases opened in the period with a validity decision, not withdrawn",
        query="procedure",
    ),
    KpiDefinition(
        "complaint_unfounded_closed_rate",
        "Unfounded complaints closed after clearing up the misunderstanding",
        "不成立投诉消除误会结案率",
        True,
        "of those, closed (消除误会)",
        "cases opened in the period decided unfounded, not withdrawn",
        query="procedure",
    ),
    KpiDefinition(
        "complaint_director_escalation_rate",
        "Complaints escalated to the director",
        "投诉上报院长比例",
        True,
        "cases opened in the period escalated to the director",
        "cases opened in the period, not withdrawn",
        query="procedure",
    ),
    KpiDefinition(
        "complaint_accountability_rate",
        "Founded complaints with accountability recorded",
        "成立投诉追责率",
        True,
        "of those, with an accountability record (处罚直接责任者)",
        "cases opened in the period decided founded, not withdrawn",
        query="procedure",
    ),
    KpiDefinition(
        "complaint_settlement_rate",
        "Founded complaints settled by agreement",
        "成立投诉和解协议比例",
        True,
        "of those, with a settlement agreement (和解协议)",
        "cases opened in the period decided founded, not withdrawn",
        query="procedure",
    ),
)

# Issue 20: the remaining time limits of the manuals, and satisfaction in quality checks
# (spot checks 抽查 and second calls 二次回访), reported apart from the patients' own answers.
KPIS += (
    KpiDefinition(
        "complaint_complex_answer_rate",
        "Complex complaints answered within 72 h",
        "复杂投诉72小时内答复率",
        True,
        "complex cases opened in the period answered (communicated) within the limit",
        "complex cases opened in the period, not withdrawn, whose 72 h clock has run out or stopped",
        query="complaints",
        target=1.0,
    ),
    KpiDefinition(
        "imaging_dispute_confirmation_rate",
        "Imaging disputes confirmed within 2 h",
        "影像争议2小时内确认率",
        True,
        "imaging disputes opened in the period confirmed by radiology within the limit",
        "imaging disputes opened in the period, not withdrawn, whose 2 h clock has run out or stopped",
        query="complaints",
        target=1.0,
    ),
    KpiDefinition(
        "spot_check_satisfaction_rate",
        "Satisfaction in spot-check calls",
        "抽查回访满意率",
        True,
        "spot-check calls answered in the period satisfied or fairly satisfied",
        "spot-check calls with an answer in the period (one per call)",
        query="answers",
    ),
    KpiDefinition(
        "second_call_satisfaction_rate",
        "Satisfaction in second calls",
        "二次回访满意率",
        True,
        "second calls answered in the period satisfied or fairly satisfied",
        "second calls with an answer in the period (one per call)",
        query="answers",
    ),
)

KPI_KEYS: tuple[str, ...] = tuple(k.key for k in KPIS)
BY_KEY: dict[str, KpiDefinition] = {k.key: k for k in KPIS}


class ClockOutcome(StrEnum):
    MET = "met"
    MISSED = "missed"
    PENDING = "pending"


def clock_outcome(
    *, met: bool, settled: bool, due_at: datetime | None, now: datetime
) -> ClockOutcome:
    """Where one cohort member stands: met once its outcome is reached (whenever); missed
    once it is settled without it (a late answer, a breach, every call attempt unreached) or
    its window has closed (`due_at` passed: at the due instant it is still pending, as
    `hospital_shared.time_limits` rules for every clock); otherwise pending. A member without
    a due time is pending until settled."""
    if met:
        return ClockOutcome.MET
    if settled or (due_at is not None and past_due(due_at, now)):
        return ClockOutcome.MISSED
    return ClockOutcome.PENDING


@dataclass(frozen=True, slots=True)
class KpiResult:
    key: str
    title_en: str
    title_zh: str
    numerator: int
    denominator: int
    value: float | None
    target: float | None
    minimum: bool
    met: bool | None
    # Cohort members whose window is still open: in neither the numerator nor the denominator.
    pending: int = 0

    @property
    def missed(self) -> int:
        """Matured members without the outcome (for a ceiling KPI: those that kept clear)."""
        return self.denominator - self.numerator


def evaluate(
    definition: KpiDefinition,
    numerator: int,
    denominator: int,
    target: float | None,
    pending: int = 0,
) -> KpiResult:
    """value = numerator / denominator, the matured part of the cohort (None when nothing
    has matured); met compares to target; `pending` is carried beside."""
    value = numerator / denominator if denominator else None
    met: bool | None = None
    if value is not None and target is not None:
        # Rounded so that 19/20 meets 95% despite binary floating point.
        met = round(value, 9) >= target if definition.minimum else round(value, 9) <= target
    return KpiResult(
        key=definition.key,
        title_en=definition.title_en,
        title_zh=definition.title_zh,
        numerator=numerator,
        denominator=denominator,
        value=value,
        target=target,
        minimum=definition.minimum,
        met=met,
        pending=pending,
    )


# (numerator, matured denominator) or (numerator, matured denominator, pending)
Counts = tuple[int, int] | tuple[int, int, int]


def evaluate_all(
    counts: Mapping[str, Counts], targets: Mapping[str, float | None]
) -> list[KpiResult]:
    """Every KPI from `counts[key] = (numerator, denominator[, pending])`; missing keys 0/0."""
    results = []
    for d in KPIS:
        numerator, denominator, *rest = counts.get(d.key, (0, 0))
        results.append(
            evaluate(d, numerator, denominator, targets.get(d.key), rest[0] if rest else 0)
        )
    return results


CSV_COLUMNS = (
    "period",
    "start",
    "end",
    "department",
    "kpi",
    "title_zh",
    "title_en",
    "numerator",
    "denominator",
    "value",
    "target",
    "direction",
    "met",
    "missed",
    "pending",
)


def _cell(text: str) -> str:
    """Text a spreadsheet will not run as a formula. A department code is whatever a hospital
    system or a member of staff opening a complaint typed: '=HYPERLINK(...)' in it ran in the
    spreadsheet of every manager who opened the monthly report. Such a cell gets a leading
    apostrophe (OWASP's advice for CSV injection)."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(rows: Iterable[tuple[str, Window, str, KpiResult]]) -> str:
    """The monthly report: one line per (department, KPI); `department` "ALL" for the whole."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for period, window, department, r in rows:
        writer.writerow(
            [
                period,
                window.start.isoformat(),
                window.end.isoformat(),
                _cell(department),
                r.key,
                r.title_zh,
                r.title_en,
                r.numerator,
                r.denominator,
                "" if r.value is None else f"{r.value:.4f}",
                "" if r.target is None else f"{r.target:.4f}",
                ">=" if r.minimum else "<=",
                "" if r.met is None else ("yes" if r.met else "no"),
                r.missed,
                r.pending,
            ]
        )
    return out.getvalue()
