import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from hospital_shared import codec
from hospital_shared.codec import InvalidEvent, Rejection, decode, encode, encode_new_event
from hospital_shared.events import EVENT_TYPES, PatientDischarged, make_event
from hospital_shared.schemas import example_event
from hospital_shared.service_events.complaints import ComplaintCaseChanged
from hospital_shared.topics import COMPLAINT_CASES, DISCHARGES, REGISTRATIONS
from tests.factories import discharge, to_bytes


def test_valid_discharge_decodes_to_typed_payload() -> None:
    event = decode(to_bytes(discharge(7)), expected_topic=DISCHARGES)
    assert isinstance(event.data, PatientDischarged)
    assert event.data.admission_id == "A000007"
    assert decode(encode(event)) == event


def test_malformed_json_is_named() -> None:
    with pytest.raises(InvalidEvent) as err:
        decode(b"{not json")
    assert err.value.kind is Rejection.MALFORMED_JSON


def test_unknown_type_is_named() -> None:
    raw = discharge()
    raw["type"] = "patient.teleported"
    with pytest.raises(InvalidEvent) as err:
        decode(to_bytes(raw))
    assert err.value.kind is Rejection.UNKNOWN_TYPE
    assert "patient.teleported" in err.value.reason


def test_schema_violation_names_each_bad_field_without_echoing_patient_data() -> None:
    raw = discharge()
    del raw["data"]["patient"]["phone"]
    raw["data"]["disposition"] = "vanished"
    raw["time"] = "2026-11-23T09:30:00"  # no UTC offset
    with pytest.raises(InvalidEvent) as err:
        decode(to_bytes(raw))
    reason = err.value.reason
    assert err.value.kind is Rejection.SCHEMA_VIOLATION
    assert "data.patient.phone" in reason
    assert "data.disposition" in reason
    assert "time" in reason
    assert "vanished" not in reason and "张三" not in reason


def test_event_on_the_wrong_topic_is_rejected() -> None:
    with pytest.raises(InvalidEvent) as err:
        decode(to_bytes(discharge()), expected_topic=REGISTRATIONS)
    assert err.value.kind is Rejection.UNKNOWN_TYPE


def test_an_event_encoded_in_one_pass_is_the_canonical_encoding() -> None:
    shanghai = timezone(timedelta(hours=8))
    when = datetime(2026, 11, 23, 9, 30, tzinfo=shanghai)
    data = ComplaintCaseChanged.model_validate(
        {
            "case_number": "TS-20261123-0001", "status": "received", "channel": "online",
            "category": "staff_attitude", "category_source": "rule", "priority": "normal",
            "serious": False, "complex": False, "patient": {"patient_id": "P1"},
            "time_limits": [{"limit": "first_response", "starts_at": when, "due_at": when,
                             "warn_at": when}],
            "occurred_at": when,
        }
    )  # fmt: skip
    for correlation in (None, "c-1"):
        payload = encode_new_event(
            "complaint.case_opened", data, event_id="e-1", source="urn:test",
            subject="TS-20261123-0001", time=when, correlation_id=correlation,
        )  # fmt: skip
        canonical = make_event(
            "complaint.case_opened", data, source="urn:test", subject="TS-20261123-0001",
            time=when, correlation_id=correlation, event_id="e-1",
        )  # fmt: skip
        assert json.loads(payload) == json.loads(encode(canonical))
        assert decode(payload, expected_topic=COMPLAINT_CASES) == canonical
    with pytest.raises(TypeError):
        encode_new_event("complaint.case_acknowledged", PatientDischarged.model_validate(
            discharge(1)["data"]), event_id="e", source="s", subject="x", time=when)  # fmt: skip
    with pytest.raises(ValueError):
        encode_new_event("complaint.case_opened", data, event_id="e", source="s", subject="x",
                         time=when.replace(tzinfo=None))  # fmt: skip


@pytest.mark.parametrize("when", ["9999-12-31T09:00:00+08:00", "0001-01-01T00:00:00Z"])
def test_an_instant_out_of_bounds_is_a_schema_violation_not_a_handler_error(when: str) -> None:
    # A discharge dated 9999-12-31 used to decode, then fail every consumer adding days to it
    # (OverflowError), which dead-lettered it as a handler error after its retries.
    raw = discharge()
    raw["data"]["discharged_at"] = when
    with pytest.raises(InvalidEvent) as err:
        decode(to_bytes(raw), expected_topic=DISCHARGES)
    assert err.value.kind is Rejection.SCHEMA_VIOLATION
    assert "data.discharged_at" in err.value.reason


def test_text_with_a_nul_is_a_schema_violation_naming_the_field() -> None:
    # It decoded, then failed every consumer's insert on each retry (a handler error).
    raw = discharge()
    raw["data"]["admission_id"] = "A1\x00"
    with pytest.raises(InvalidEvent) as err:
        decode(to_bytes(raw), expected_topic=DISCHARGES)
    assert err.value.kind is Rejection.SCHEMA_VIOLATION
    assert err.value.reason.startswith("data.admission_id:")
    raw["data"]["admission_id"] = "A1\\u0000 written out"  # the six characters, not a NUL
    assert decode(to_bytes(raw), expected_topic=DISCHARGES).data.admission_id.endswith("out")


def _decoded_in_two_steps(raw: bytes, topic: str | None = None) -> object:
    """What `decode` gave before it validated the bytes in one pass: parse, then validate."""
    try:
        return codec._validated(codec._json(raw), raw, topic)
    except InvalidEvent as exc:
        return (exc.kind, exc.reason)


def _decoded(raw: bytes, topic: str | None = None) -> object:
    try:
        return decode(raw, expected_topic=topic)
    except InvalidEvent as exc:
        return (exc.kind, exc.reason)


def test_one_pass_decoding_gives_the_two_step_event_for_every_example() -> None:
    for type_, event_type in EVENT_TYPES.items():
        try:
            raw = encode(example_event(type_))
        except KeyError:  # a service's own type without an example
            continue
        assert _decoded(raw, event_type.topic) == _decoded_in_two_steps(raw, event_type.topic)


def _moved_into_data(raw: bytes) -> bytes:
    doc = json.loads(raw)
    doc["data"]["type"] = doc.pop("type")
    return json.dumps(doc).encode()


def test_one_pass_decoding_reads_a_type_after_nested_members_and_escapes() -> None:
    doc = discharge(4)
    doc["data"]["diagnosis"] = 'line one\nline "two"'
    doc = {**{k: v for k, v in doc.items() if k != "type"}, "type": doc["type"]}
    raw = json.dumps(doc, ensure_ascii=False).encode()
    assert raw.index(b'"type"') > raw.index(b'"data"')
    event = _decoded(raw, DISCHARGES)
    assert event == _decoded_in_two_steps(raw, DISCHARGES)
    assert getattr(event, "type", None) == "patient.discharged"


@pytest.mark.parametrize(
    "variant",
    [
        # a second `type` member: the last one counts, and this one is not a known type
        lambda raw: raw[:-1] + b', "type": " patient.discharged "}',
        # the same, its name spelled with an escape
        lambda raw: raw[:-1] + b', "\\u0074ype": " patient.discharged "}',
        lambda raw: raw[:-1] + b', "data": {}}',  # a repeated `data`: the last one counts
        lambda raw: raw + b" trailing",
        lambda raw: raw.replace(b'"1.0"', b'"1.0", "specversion": "0.3"', 1),
        # no `type` at the top level, one inside `data` (a member the contract forbids there)
        lambda raw: _moved_into_data(raw),
    ],
)
def test_one_pass_decoding_accepts_and_rejects_what_two_steps_did(
    variant: Callable[[bytes], bytes],
) -> None:
    raw = variant(to_bytes(discharge(3)))
    assert isinstance(_decoded_in_two_steps(raw, DISCHARGES), tuple)
    assert _decoded(raw, DISCHARGES) == _decoded_in_two_steps(raw, DISCHARGES)
