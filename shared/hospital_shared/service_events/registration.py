"""Events the registration service publishes (registered in `hospital_shared.events.EVENT_TYPES`).

Beside the input events it relays (registration.created, patient.discharged, ...), it tells
when a hospital system updated a patient's details (HL7 ADT^A08), so that later calls and SMS
use the current phone number.
"""

from __future__ import annotations

from pydantic import AwareDatetime

from hospital_shared import topics
from hospital_shared.events import Contract, Patient, register_event


class PatientDetailsUpdated(Contract):
    """A hospital system corrected or updated a patient's name or phone (ADT^A08)."""

    patient: Patient
    updated_at: AwareDatetime
    visit_id: str | None = None


register_event("patient.details_updated", PatientDetailsUpdated, topics.REGISTRATIONS)

# CloudEvents extension attribute on events carrying a patient: `valid` when the phone was
# normalised to E.164, `unusable` when it was kept as received because it cannot take an SMS.
PHONE_STATUS_ATTRIBUTE = "phonestatus"
