"""The KPIs operations review, as pure arithmetic: periods in hospital-local time, and each
KPI's numerator, denominator, value, target and whether it is met.

Every rate is a cohort rate: the denominator is a set of things that happened in the period
(discharges, visits, cases opened, answers given, messages sent), and the numerator is the
part of that same set that reached the outcome, whenever the outcome happened.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


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
    key: str
    title_en: str
    title_zh: str
    # True: the value must be >= target (a floor); False: <= target (a ceiling).
    minimum: bool
    numerator: str
    denominator: str


KPIS: tuple[KpiDefinition, ...] = (
    KpiDefinition(
        "followup_inpatient_rate",
        "Inpatient follow-up rate",
        "出院患者回访率",
        True,
        "discharges in the period whose patient was reached by a follow-up call (any time)",
        "discharges in the period, not cancelled, disposition not excluded (e.g. deceased)",
    ),
    KpiDefinition(
        "followup_outpatient_rate",
        "Outpatient follow-up rate",
        "门诊患者回访率",
        True,
        "outpatient visits in the period whose patient was reached by a follow-up call",
        "outpatient visits in the period, not cancelled and not no-shows",
    ),
    KpiDefinition(
        "followup_first_visit_rate",
        "First-visit follow-up rate",
        "初诊患者回访率",
        True,
        "first visits in the period whose patient was reached by a follow-up call",
        "first visits (初诊) in the period, not cancelled and not no-shows",
    ),
    KpiDefinition(
        "satisfaction_rate",
        "Patient satisfaction rate",
        "患者满意率",
        True,
        "answers in the period that were satisfied or fairly satisfied",
        "satisfaction answers given in the period",
    ),
    KpiDefinition(
        "registration_dissatisfaction_rate",
        "Dissatisfaction with registration",
        "挂号不满意率",
        False,
        "dissatisfied answers to registration (挂号) questions in the period, calls and surveys",
        "answers to registration questions given in the period, calls and surveys",
    ),
    KpiDefinition(
        "guidance_dissatisfaction_rate",
        "Dissatisfaction with guidance staff",
        "导医不满意率",
        False,
        "dissatisfied answers to guidance-staff (导医) questions in the period, calls and surveys",
        "answers to guidance-staff questions given in the period, calls and surveys",
    ),
    KpiDefinition(
        "survey_coverage_rate",
        "Satisfaction survey coverage",
        "满意度调查覆盖率",
        True,
        "visits and discharges in the period with a satisfaction answer, by call or SMS survey",
        "outpatient visits and discharges in the period",
    ),
    KpiDefinition(
        "complaint_first_response_rate",
        "Complaint first response within 24 h",
        "投诉24小时内首次答复率",
        True,
        "cases opened in the period answered within the first-response limit",
        "cases opened in the period, not withdrawn",
    ),
    KpiDefinition(
        "complaint_fact_finding_rate",
        "Fact-finding within 4 working days",
        "4个工作日内完成调查率",
        True,
        "cases opened in the period whose fact-finding finished without a breach",
        "cases opened in the period, not withdrawn",
    ),
    KpiDefinition(
        "complaint_handling_satisfaction_rate",
        "Complaint-handling satisfaction",
        "投诉处理满意率",
        True,
        "satisfied answers in the period",
        "complaint-handling satisfaction answers given in the period",
    ),
    KpiDefinition(
        "no_show_rate",
        "Appointment no-show rate",
        "预约爽约率",
        False,
        "registrations with a visit in the period where the patient did not come",
        "registrations with a visit in the period, not cancelled",
    ),
    KpiDefinition(
        "sms_delivery_rate",
        "SMS delivery rate",
        "短信送达率",
        True,
        "SMS created in the period and delivered",
        "SMS created in the period and handed to the gateway (or failed)",
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
    ),
    *(
        KpiDefinition(
            f"enquiry_answered_in_time_rate_{channel}",
            f"Enquiries answered in time ({en})",
            f"{zh}咨询按时答复率",
            True,
            f"{en} enquiries taken in the period answered within their time limit",
            f"{en} enquiries taken in the period, not turned into a complaint",
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
    ),
    KpiDefinition(
        "suggestion_share",
        "Suggestions among patient feedback",
        "建议占反馈比例",
        True,
        "suggestions received in the period",
        "praise, suggestions and complaint cases received in the period",
    ),
    KpiDefinition(
        "suggestion_adoption_rate",
        "Suggestions adopted",
        "建议采纳率",
        True,
        "suggestions answered in the period and adopted",
        "suggestions answered in the period",
    ),
)

KPI_KEYS: tuple[str, ...] = tuple(k.key for k in KPIS)


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


def evaluate(
    definition: KpiDefinition, numerator: int, denominator: int, target: float | None
) -> KpiResult:
    """value = numerator / denominator (None on an empty cohort); met compares to target."""
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
    )


def evaluate_all(
    counts: Mapping[str, tuple[int, int]], targets: Mapping[str, float | None]
) -> list[KpiResult]:
    """Every KPI from `counts[key] = (numerator, denominator)`; missing keys count 0/0."""
    return [evaluate(d, *counts.get(d.key, (0, 0)), targets.get(d.key)) for d in KPIS]


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
            ]
        )
    return out.getvalue()
