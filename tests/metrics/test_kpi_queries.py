"""A KPI is one definition (issue 18): the count source its definition names computes it, and a
KPI without one fails at start-up rather than reporting 0/0 for ever."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import Any

import pytest

from metrics import alerting, queries
from metrics.app import create_app
from metrics.kpi import BY_KEY, KPI_KEYS, KPIS, Period, period_window
from metrics.settings import DOMAIN_TARGETS, Settings


class _Zeros(dict[str, int]):
    def __missing__(self, key: str) -> int:
        return 0


class _ZeroStore:
    """A connection whose every row reads 0: what each source returns, not what it counts."""

    async def fetchrow(self, *_: Any) -> _Zeros:
        return _Zeros()


def _query() -> queries.KpiQuery:
    return queries.KpiQuery.of(Settings(), datetime(2026, 11, 23, tzinfo=UTC))


WINDOW = period_window(Period.WEEK, date(2026, 11, 23), "Asia/Shanghai")


async def test_every_kpi_is_computed_by_the_source_its_definition_names() -> None:
    queries.check()
    counts = await queries.kpi_counts(_ZeroStore(), WINDOW, department=None, query=_query())
    assert set(counts) == set(KPI_KEYS)
    assert DOMAIN_TARGETS == {k.key: k.target for k in KPIS}


async def test_a_kpi_whose_source_does_not_compute_it_fails_instead_of_reading_0_of_0() -> None:
    new = dataclasses.replace(BY_KEY["satisfaction_rate"], key="doctor_satisfaction_rate")
    with pytest.raises(queries.KpiWithoutQuery, match="doctor_satisfaction_rate"):
        await queries.kpi_counts(
            _ZeroStore(), WINDOW, department=None, query=_query(), definitions=[*KPIS, new]
        )


def test_a_kpi_without_a_query_fails_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    orphan = dataclasses.replace(BY_KEY["no_show_rate"], key="late_arrival_rate", query="")
    monkeypatch.setattr(queries, "KPIS", (*KPIS, orphan))
    with pytest.raises(queries.KpiWithoutQuery, match="late_arrival_rate"):
        queries.check()
    with pytest.raises(queries.KpiWithoutQuery, match="late_arrival_rate"):
        create_app(Settings())


def test_every_kpi_with_a_target_has_its_recording_rule_in_its_direction() -> None:
    rules = {r["expr"].split('"')[1]: r["expr"] for r in alerting.kpi_recording()}
    assert set(rules) == {k.key for k in KPIS if k.target is not None}
    assert " <= bool " in rules["registration_dissatisfaction_rate"]
    assert " >= bool " in rules["followup_inpatient_rate"]
