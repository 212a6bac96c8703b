"""Input naming a merged patient id goes on under the surviving one (`patient_aliases`):
complaints and feedback by a patient too, while a complainant without a patient id (a
relative, a visitor) names no id to map."""

from __future__ import annotations

from datetime import UTC, datetime

from hospital_shared.events import ComplaintSubmitted
from registration.intake import Intake
from registration.patient_aliases import patient_ids, with_aliases
from tests.factories import complaint

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def submitted(patient: dict[str, str] | None) -> Intake:
    data = ComplaintSubmitted.model_validate(complaint("C-1", patient=patient)["data"])
    return Intake("complaint.submitted", data, "c-1", NOW, "urn:test")


def test_a_complaint_by_a_merged_patient_goes_on_under_the_survivor() -> None:
    by_patient = submitted({"patient_id": "P-OLD", "name": "张三", "phone": "13800138000"})
    assert patient_ids(by_patient) == ["P-OLD"]
    moved = with_aliases(by_patient, {"P-OLD": "P-NEW"})
    assert moved.data.patient.patient_id == "P-NEW"  # type: ignore[attr-defined]
    assert moved.data.patient.name == "张三"  # type: ignore[attr-defined]


def test_a_relatives_or_an_anonymous_complaint_names_no_patient_id() -> None:
    relative = submitted({"name": "陈静", "phone": "13912345678"})
    assert patient_ids(relative) == []
    assert with_aliases(relative, {"P-OLD": "P-NEW"}) is relative
    assert patient_ids(submitted(None)) == []
