"""Who lodged a complaint or feedback (`Complainant`): a relative or visitor the hospital has
no patient id for is named by name and phone on Kafka too, as the complaints service's REST
API already takes them; a patient by id may leave either out (the follow-up service's
objection from a call whose task has no phone was made anonymous, losing the patient); and
every complaint a hospital system sent before means the same."""

from __future__ import annotations

from typing import Any

import pytest

from hospital_shared.codec import InvalidEvent, decode
from hospital_shared.events import Complainant, ComplaintSubmitted, FeedbackSubmitted, Patient
from tests.factories import complaint, envelope, to_bytes

RELATIVE = {"name": "陈静", "phone": "13912345678"}


def praise(external_id: str, patient: dict[str, Any] | None) -> dict[str, Any]:
    data = {
        "external_id": external_id, "kind": "praise", "channel": "online", "patient": patient,
        "text": "护士很耐心", "submitted_at": "2026-11-23T09:30:00+08:00",
    }  # fmt: skip
    return envelope("feedback.submitted", data, subject=external_id)


def test_a_relative_without_a_patient_id_is_a_complainant_with_name_and_phone() -> None:
    event = decode(to_bytes(complaint("C-REL", patient=RELATIVE)))
    assert isinstance(event.data, ComplaintSubmitted)
    assert event.data.patient == Complainant(patient_id=None, name="陈静", phone="13912345678")
    feedback = decode(to_bytes(praise("F-REL", RELATIVE)))
    assert isinstance(feedback.data, FeedbackSubmitted)
    assert (feedback.data.patient.patient_id, feedback.data.patient.name) == (None, "陈静")  # type: ignore[union-attr]


@pytest.mark.parametrize("missing", ["name", "phone"])
def test_a_complainant_without_a_name_or_a_phone_is_a_schema_violation(missing: str) -> None:
    """Without a patient id the name and phone are all there is to call back and text; a
    complainant is refused without them, as a patient was, naming the field and no more."""
    nameless = {k: v for k, v in RELATIVE.items() if k != missing}
    for patient in (nameless, {**nameless, "patient_id": None}):
        for raw in (complaint("C-1", patient=patient), praise("F-1", patient)):
            with pytest.raises(InvalidEvent) as err:
                decode(to_bytes(raw))
            assert err.value.reason == f"data.patient.{missing}: Field required"


def test_a_complainant_with_neither_is_refused_naming_both() -> None:
    with pytest.raises(InvalidEvent) as err:
        decode(to_bytes(complaint("C-1", patient={"sms_opt_out": True})))
    assert (
        err.value.reason == "data.patient.name: Field required; data.patient.phone: Field required"
    )


@pytest.mark.parametrize(
    "known",
    [{"patient_id": "P000001"}, {"patient_id": "P000001", "name": "张三"},
     {"patient_id": "P000001", "phone": "13800138000"}],
)  # fmt: skip
def test_a_patient_by_id_may_leave_out_their_name_or_phone(known: dict[str, Any]) -> None:
    """The hospital knows who a patient is by their id: the complaint stays theirs (their case,
    their SMS to the phone on file) though the sender had no name or phone to give."""
    for raw in (complaint("C-ID", patient=known), praise("F-ID", known)):
        read = decode(to_bytes(raw)).data.patient
        assert read == Complainant.model_validate(known)
        assert read.model_dump() == {"name": None, "phone": None, "sms_opt_out": False, **known}


def test_every_complaint_valid_before_is_valid_and_means_the_same() -> None:
    """A patient by id (with and without `sms_opt_out`) and an anonymous complaint: each
    still decodes, and its complainant reads as the old `Patient` contract read it."""
    for patient in (
        {"patient_id": "P000001", "name": "张三", "phone": "13800138000"},
        {"patient_id": "P000001", "name": "张三", "phone": "13800138000", "sms_opt_out": True},
        None,
    ):
        for raw in (complaint("C-OLD", patient=patient), praise("F-OLD", patient)):
            read = decode(to_bytes(raw)).data.patient
            as_before = Patient.model_validate(patient) if patient else None
            assert (read and read.model_dump()) == (as_before and as_before.model_dump())


def test_the_complainant_schema_takes_every_patient_the_old_one_took() -> None:
    """The JSON Schemas side by side: no field a patient may leave out became required, and
    each field of a patient is still accepted with the same limits; the schema says who may
    leave out what: a patient id, or else a name and a phone (strings, not null)."""
    old, new = Patient.model_json_schema(), Complainant.model_json_schema()
    assert set(new.get("required", [])) <= set(old["required"])
    assert [(set(b["required"]), b["properties"]) for b in new["anyOf"]] == [
        ({"patient_id"}, {"patient_id": {"type": "string"}}),
        ({"name", "phone"}, {"name": {"type": "string"}, "phone": {"type": "string"}}),
    ]
    assert new["additionalProperties"] is False and set(new["properties"]) == set(old["properties"])
    for field, was in old["properties"].items():
        now = new["properties"][field]
        branches = [_limits(b) for b in now.get("anyOf", [now])]
        assert _limits(was) in branches, field


def _limits(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k not in ("title", "default")}


def test_code_that_builds_the_event_with_a_patient_object_still_does() -> None:
    """Producers and tests built `ComplaintSubmitted(patient=Patient(...))` while the field was
    a `Patient`: a `Patient` object is taken as the complainant it is (CI found a test of the
    notifications batch that did so failing once the field became a `Complainant`)."""
    patient = Patient(patient_id="P000001", name="张三", phone="13800138000", sms_opt_out=True)
    data = {"external_id": "C-OBJ", "channel": "online", "description": "排队太久",
            "submitted_at": "2026-11-23T09:30:00+08:00", "patient": patient}  # fmt: skip
    taken = ComplaintSubmitted.model_validate(data).patient
    assert taken == Complainant(patient_id="P000001", name="张三", phone="13800138000",
                                sms_opt_out=True)  # fmt: skip
