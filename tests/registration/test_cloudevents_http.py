"""`POST /v1/events` in every content mode of the CloudEvents HTTP binding (no stack; the real
service in tests/integration/test_cloudevents_bindings.py)."""

from __future__ import annotations

import json
from typing import Any

from hospital_shared.schemas import example_json
from registration.cloudevents_http import parse_events_request

EVENT = example_json("patient.discharged")


def parse(content_type: str, body: Any, **headers: str) -> tuple[list[Any], list[Any]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_events_request({"content-type": content_type, **headers}, raw, max_events=10)


def binary(**changes: str) -> dict[str, str]:
    attributes = {k: v for k, v in EVENT.items() if k not in ("data", "datacontenttype")}
    return {f"ce-{k}": str(v) for k, v in {**attributes, **changes}.items()}


def test_each_content_mode_gives_the_same_event() -> None:
    modes = [
        parse("application/cloudevents-batch+json", [EVENT]),
        parse("application/json", [EVENT]),
        parse("application/cloudevents+json; charset=UTF-8", EVENT),
        parse("application/json", EVENT),
        parse("application/json; charset=utf-8", EVENT["data"], **binary()),
    ]
    for intakes, errors in modes:
        assert errors == []
        assert [(i.type, i.event_id, i.data) for i in intakes] == [
            ("patient.discharged", EVENT["id"], modes[0][0][0].data)
        ]


def test_a_single_events_errors_name_the_field_without_a_batch_index() -> None:
    bad = {**EVENT, "data": {**EVENT["data"], "discharged_at": "soon"}}
    _, errors = parse("application/cloudevents+json", bad)
    assert [e["loc"] for e in errors] == [["body", "data", "discharged_at"]]
    _, errors = parse("application/json", bad["data"], **binary(time="soon"))
    assert sorted(e["loc"] for e in errors) == [["body", "discharged_at"], ["header", "ce-time"]]


def test_a_structured_body_must_be_one_event() -> None:
    two = json.dumps(EVENT).encode() + b"," + json.dumps(EVENT).encode()
    _, errors = parse("application/cloudevents+json", two)
    assert errors and errors[0]["loc"] == ["body"]
    _, errors = parse("application/cloudevents+json", [EVENT])
    assert errors[0]["type"] == "dict_type"


def test_binary_attributes_are_percent_decoded_utf8() -> None:
    intakes, errors = parse("application/json", EVENT["data"], **binary(source="/his/%E5%87%BA"))
    assert errors == [] and intakes[0].source == "/his/出"
    _, errors = parse("application/json", EVENT["data"], **binary(source="%C0%A0"))
    assert errors[0]["loc"] == ["header", "ce-source"]
    _, errors = parse("application/xml", b"<x/>", **binary())
    assert errors[0]["loc"] == ["header", "content-type"]
