"""How event fields become bounded label values and facts."""

from __future__ import annotations

from hospital_shared.service_events.followup import Satisfaction
from metrics import catalog
from metrics.domain import label, label_key, rating


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


def test_label_sets_have_one_canonical_key() -> None:
    assert label_key({"b": "2", "a": "1"}) == label_key({"a": "1", "b": "2"})


def test_a_label_key_keeps_chinese_text_as_written() -> None:
    """The key names a row of `counter_totals`: written with `\\u` escapes, a department
    called 心内科 would start a second row beside the one already counted."""
    assert label_key({"department": "心内科"}) == '{"department":"心内科"}'


def test_no_metric_carries_an_id_label() -> None:
    for spec in catalog.COUNTERS + catalog.GAUGES:
        assert spec.name.startswith("hospital_")
        assert set(spec.labels) <= catalog.ALLOWED_LABELS, spec.name
        assert not any(lbl.endswith("_id") for lbl in spec.labels)
