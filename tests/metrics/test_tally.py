"""A batch's counter increments are summed per label set and written in one statement."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from metrics import catalog
from metrics.tally import Tally


class FakeConn:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def execute(self, sql: str, *args: Any) -> str:
        self.calls.append((sql, args))
        return "INSERT 0 1"


def test_increments_of_one_label_set_are_summed_and_written_once() -> None:
    tally = Tally()
    cardiology = {"department": "CARD", "disposition": "home"}
    tally.add(catalog.DISCHARGES, cardiology)
    tally.add(catalog.DISCHARGES, {"department": "NEUR", "disposition": "home"})
    tally.add(catalog.DISCHARGES, cardiology)
    tally.add(catalog.EVENTS_COUNTED, {"topic": "t", "kind": "patient.discharged"}, by=3)
    conn = FakeConn()

    asyncio.run(tally.flush(conn))  # type: ignore[arg-type]

    assert len(conn.calls) == 1
    metrics, labels, values = conn.calls[0][1]
    written = dict(zip(zip(metrics, labels, strict=True), values, strict=True))
    assert written == {
        ("hospital_discharges", '{"department":"CARD","disposition":"home"}'): 2,
        ("hospital_discharges", '{"department":"NEUR","disposition":"home"}'): 1,
        ("hospital_metrics_events_counted", '{"kind":"patient.discharged","topic":"t"}'): 3,
    }
    assert list(zip(metrics, labels, strict=True)) == sorted(zip(metrics, labels, strict=True))


def test_nothing_counted_writes_nothing_and_a_flushed_tally_is_empty() -> None:
    tally = Tally()
    conn = FakeConn()
    asyncio.run(tally.flush(conn))  # type: ignore[arg-type]
    tally.add(catalog.COMPLAINTS_SUBMITTED, {"channel": "web"})
    asyncio.run(tally.flush(conn))  # type: ignore[arg-type]
    asyncio.run(tally.flush(conn))  # type: ignore[arg-type]
    assert len(conn.calls) == 1


def test_wrong_label_names_are_a_bug() -> None:
    with pytest.raises(ValueError):
        Tally().add(catalog.DISCHARGES, {"department": "CARD"})
