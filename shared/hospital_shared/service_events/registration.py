"""Events the registration service publishes (registered in `hospital_shared.events.EVENT_TYPES`).

Beside the input events it relays (registration.created, patient.discharged, ...), it tells
when a hospital system updated a patient's details (HL7 ADT^A08), so that later calls and SMS
use the current phone number; when an inpatient moved to another department (ADT^A02), so that
planning uses the department the patient is in; and when two patient ids turned out to be one
person (ADT^A40), so that every service moves what it keeps under the old id to the surviving
one (`hospital_shared.patient_merge`).
"""

from __future__ import annotations

from typing import Self

from pydantic import AwareDatetime, model_validator

from hospital_shared import topics
from hospital_shared.bounds import EventTime
from hospital_shared.events import Contract, Department, NonEmpty, Patient, register_event
from hospital_shared.vocabulary import EventName


class PatientDetailsUpdated(Contract):
    """A hospital system corrected or updated a patient's name or phone (ADT^A08)."""

    patient: Patient
    updated_at: AwareDatetime
    visit_id: str | None = None


register_event(EventName.PATIENT_DETAILS_UPDATED, PatientDetailsUpdated, topics.REGISTRATIONS)


class PatientTransferred(Contract):
    """An inpatient moved to another department or ward (ADT^A02). Keyed by the patient id.
    The department is where the patient is now: discharge planning and staff routing use it
    from here on (the stored admission takes it, so a discharge that leaves PV1-3 out is
    completed with it)."""

    patient_id: NonEmpty
    admission_id: NonEmpty | None = None
    department: Department
    ward: NonEmpty | None = None
    bed: NonEmpty | None = None
    prior_department: Department | None = None
    transferred_at: EventTime


class PatientsMerged(Contract):
    """Two patient ids were one person (ADT^A40, MRG-1 into PID-3): everything kept under
    `merged_patient_id` now belongs to `surviving_patient_id`, and later events naming the
    merged id are read as naming the surviving one. Keyed by the merged id, so it follows
    every event of that id already published."""

    surviving_patient_id: NonEmpty
    merged_patient_id: NonEmpty
    merged_at: EventTime

    @model_validator(mode="after")
    def _two_patients(self) -> Self:
        if self.surviving_patient_id == self.merged_patient_id:
            raise ValueError("a patient cannot be merged into itself (same id both sides)")
        return self


register_event(EventName.PATIENT_TRANSFERRED, PatientTransferred, topics.REGISTRATIONS)
register_event(EventName.PATIENT_MERGED, PatientsMerged, topics.REGISTRATIONS)

# CloudEvents extension attribute on events carrying a patient: `valid` when the phone was
# normalised to E.164, `unusable` when it was kept as received because it cannot take an SMS.
PHONE_STATUS_ATTRIBUTE = "phonestatus"
