"""Validation of a CloudEvents batch: every bad field named, with its index in the batch."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from registration.api import parse_batch
from tests.factories import discharge, registration


def test_a_batch_that_is_ten_percent_invalid_lists_every_error() -> None:
    events = [registration(n) for n in range(100)]
    for n in range(0, 100, 10):
        del events[n]["data"]["patient"]["phone"]
    _intakes, errors = parse_batch(events, max_events=1000)
    assert len(errors) == 10
    assert [e["loc"] for e in errors][:2] == [
        ["body", 0, "data", "patient", "phone"],
        ["body", 10, "data", "patient", "phone"],
    ]


def test_unknown_types_repeated_ids_and_size_limits_are_named() -> None:
    good = discharge(1)
    service_event = {**registration(2), "type": "followup.task_planned"}
    _, errors = parse_batch([good, dict(good), service_event, 7], max_events=1000)
    assert [e["loc"] for e in errors] == [["body", 1, "id"], ["body", 2, "type"], ["body", 3]]
    assert parse_batch([], max_events=10)[1][0]["type"] == "too_short"
    assert parse_batch([good] * 11, max_events=10)[1][0]["type"] == "too_long"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(json_values, max_size=5))
def test_any_json_batch_is_either_valid_or_explained(events: list[object]) -> None:
    intakes, errors = parse_batch(list(events), max_events=1000)
    assert errors or len(intakes) == len(events)
