"""Reading a Kafka record in either content mode of the CloudEvents Kafka binding (no stack;
tests/integration/test_cloudevents_bindings.py does it on the real Kafka)."""

from __future__ import annotations

import json

import pytest

from hospital_shared.codec import STRUCTURED_HEADERS, InvalidEvent, Rejection, decode_record
from hospital_shared.events import dataschema_of
from hospital_shared.schemas import example_json

DISCHARGE = example_json("patient.discharged")
ATTRIBUTES = {k: v for k, v in DISCHARGE.items() if k not in ("data", "datacontenttype")}


def binary_headers(**changes: str) -> list[tuple[str, bytes]]:
    attributes = {**ATTRIBUTES, **changes}
    return [("content-type", b"application/json"), *(
        (f"ce_{name}", str(value).encode()) for name, value in attributes.items()
    )]  # fmt: skip


def test_a_structured_record_with_or_without_its_content_type_is_read() -> None:
    raw = json.dumps(DISCHARGE).encode()
    with_header = decode_record(raw, STRUCTURED_HEADERS, expected_topic="hospital.discharges.v1")
    without = decode_record(raw, [], expected_topic="hospital.discharges.v1")
    assert with_header == without
    assert with_header.dataschema == dataschema_of("patient.discharged")


def test_a_binary_record_is_the_same_event_as_its_structured_form() -> None:
    raw = json.dumps(DISCHARGE["data"]).encode()
    event = decode_record(raw, binary_headers(), expected_topic="hospital.discharges.v1")
    assert event == decode_record(json.dumps(DISCHARGE).encode(), [])


def test_a_binary_record_with_a_bad_attribute_names_it() -> None:
    raw = json.dumps(DISCHARGE["data"]).encode()
    with pytest.raises(InvalidEvent) as bad_time:
        decode_record(raw, binary_headers(time="yesterday"))
    assert bad_time.value.kind is Rejection.SCHEMA_VIOLATION and "time" in bad_time.value.reason
    with pytest.raises(InvalidEvent) as nul:
        decode_record(raw, binary_headers(source="/his\x00"))
    assert "ce_source" in nul.value.reason


def test_other_formats_and_non_json_data_are_refused_with_the_reason() -> None:
    raw = json.dumps(DISCHARGE).encode()
    with pytest.raises(InvalidEvent, match="avro"):
        decode_record(raw, [("content-type", b"application/cloudevents+avro")])
    with pytest.raises(InvalidEvent, match="must be JSON"):
        decode_record(b"<x/>", [*binary_headers()[1:], ("content-type", b"application/xml")])
    with pytest.raises(InvalidEvent) as garbage:
        decode_record(b"{nope", binary_headers())
    assert garbage.value.kind is Rejection.MALFORMED_JSON
