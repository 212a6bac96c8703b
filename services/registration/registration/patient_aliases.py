"""Input for a merged patient id goes on under the surviving one (ADT^A40). Pure."""

from __future__ import annotations

from dataclasses import replace

from pydantic import BaseModel

from hospital_shared.events import Complainant, Patient
from hospital_shared.service_events.registration import PatientTransferred
from registration.intake import DischargeNotice, Intake


def patient_ids(intake: Intake) -> list[str]:
    """The patient ids an intake names (to map merged ones, `with_aliases`)."""
    data = intake.data
    if isinstance(data, DischargeNotice):
        patient = data.fields.get("patient")
        found = patient.get("patient_id") if isinstance(patient, dict) else None
        return [found] if isinstance(found, str) else []
    if isinstance(data, PatientTransferred):
        return [data.patient_id]
    patient = getattr(data, "patient", None)
    if isinstance(patient, Patient | Complainant) and patient.patient_id is not None:
        return [patient.patient_id]
    return []  # no patient, or a complainant without a hospital id (a relative, a visitor)


def with_aliases(intake: Intake, aliases: dict[str, str]) -> Intake:
    """`intake` naming surviving patient ids where it named merged ones (ADT^A40): input for
    an old id after the merge goes on under the surviving id."""
    data = intake.data
    ids = [pid for pid in patient_ids(intake) if pid in aliases]
    if not ids:
        return intake
    new_id = aliases[ids[0]]
    if isinstance(data, DischargeNotice):
        patient = {**data.fields["patient"], "patient_id": new_id}
        moved: BaseModel = data.model_copy(update={"fields": {**data.fields, "patient": patient}})
    elif isinstance(data, PatientTransferred):
        moved = data.model_copy(update={"patient_id": new_id})
    else:
        patient = getattr(data, "patient")  # noqa: B009
        moved = data.model_copy(
            update={"patient": patient.model_copy(update={"patient_id": new_id})}
        )
    return replace(intake, data=moved)
