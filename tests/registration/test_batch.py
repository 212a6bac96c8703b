"""Validation of a CloudEvents batch: every bad field named, with its index in the batch."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from registration.api import parse_batch
from registration.batch import parse_batch_json
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


def test_the_one_pass_path_names_errors_exactly_as_the_careful_path() -> None:
    events = [registration(n) for n in range(20)]
    events[3]["data"]["visit_type"] = "sometimes"
    events[9]["data"]["patient"]["name"] = "张\x00"  # NUL: PostgreSQL text cannot store it
    body = json.dumps(events).encode()
    _, errors = parse_batch_json(body, max_events=1000)
    assert [e["loc"] for e in errors] == [
        ["body", 3, "data", "visit_type"],
        ["body", 9, "data", "patient", "name"],
    ]
    assert parse_batch_json(b"[1,", max_events=10)[1][0]["type"] == "json_invalid"
    assert parse_batch_json(b'{"a": 1}', max_events=10)[1][0]["type"] == "list_type"
    assert parse_batch_json(b'["\\ud800"]', max_events=10)[1][0]["loc"] == ["body", 0]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(json_values, st.integers(0, 50).map(registration)), max_size=5))
def test_the_one_pass_path_accepts_exactly_what_the_careful_path_accepts(
    events: list[object],
) -> None:
    body = json.dumps(events).encode()
    fast, fast_errors = parse_batch_json(body, max_events=1000)
    slow, slow_errors = parse_batch(json.loads(body), max_events=1000)
    assert bool(fast_errors) == bool(slow_errors)
    if not fast_errors:
        assert [(i.type, i.event_id, i.data) for i in fast] == [
            (i.type, i.event_id, i.data) for i in slow
        ]
