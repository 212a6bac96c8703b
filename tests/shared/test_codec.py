import pytest

from hospital_shared.codec import InvalidEvent, Rejection, decode, encode
from hospital_shared.events import PatientDischarged
from hospital_shared.topics import DISCHARGES, REGISTRATIONS
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
