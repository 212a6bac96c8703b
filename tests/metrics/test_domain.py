"""How event fields become bounded label values and facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hospital_shared.service_events.followup import Satisfaction
from metrics import catalog
from metrics.domain import as_time, call_reached, field, label, label_key, rating


def test_the_hospital_scale_is_understood_in_chinese_and_english() -> None:
    assert rating(Satisfaction.SATISFIED) == "satisfied"
    assert rating("基本满意") == "fairly_satisfied"
    assert rating("不满意") == "dissatisfied"
    assert rating("Fairly satisfied") == "fairly_satisfied"
    assert rating(False) == "dissatisfied"
    assert rating("maybe") is None and rating(None) is None


def test_unknown_values_never_become_new_label_values() -> None:
    allowed = frozenset({"phone", "online"})
    assert label("phone", allowed=allowed) == "phone"
    assert label("P000123", allowed=allowed) == "unknown"
    assert label(None) == "unknown"
    assert len(label("x" * 500)) == 40


def test_nested_fields_and_first_present_name() -> None:
    data = {"department": {"code": "CARD"}, "b": None, "c": 2}
    assert field(data, "department.code") == "CARD"
    assert field(data, "a", "b", "c") == 2
    assert field(data, "department.name") is None


def test_call_outcomes() -> None:
    assert call_reached("reached") is True
    assert call_reached("unreachable") is False
    assert call_reached("weird") is None
    assert call_reached(None, reached_flag=True) is True


def test_label_sets_have_one_canonical_key() -> None:
    assert label_key({"b": "2", "a": "1"}) == label_key({"a": "1", "b": "2"})


def test_a_label_key_keeps_chinese_text_as_written() -> None:
    """The key names a row of `counter_totals`: written with `\\u` escapes, a department
    called 心内科 would start a second row beside the one already counted."""
    assert label_key({"department": "心内科"}) == '{"department":"心内科"}'


def test_a_payload_time_counts_only_when_it_is_an_instant() -> None:
    """A fact is dated by the payload's own time field; text that is no time, a time without
    its offset (which day it is depends on the zone) or a number fall back to the event's
    time, so a counter never lands on a day the event did not say."""
    envelope = datetime(2026, 11, 23, 8, tzinfo=UTC)
    shanghai = datetime(2026, 11, 22, 23, 30, tzinfo=timezone(timedelta(hours=8)))
    assert as_time(shanghai, envelope) is shanghai
    assert as_time("2026-11-22T23:30:00+08:00", envelope) == shanghai
    assert as_time("2026-11-22T23:30:00", envelope) == envelope
    assert as_time("yesterday", envelope) == envelope
    assert as_time(1764000000, envelope) == envelope
    assert as_time(None, envelope) == envelope


def test_no_metric_carries_an_id_label() -> None:
    for spec in catalog.COUNTERS + catalog.GAUGES:
        assert spec.name.startswith("hospital_")
        assert set(spec.labels) <= catalog.ALLOWED_LABELS, spec.name
        assert not any(lbl.endswith("_id") for lbl in spec.labels)
