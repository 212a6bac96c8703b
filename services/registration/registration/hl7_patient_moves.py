"""ADT^A02 (transfer) and ADT^A40 (merge) into intakes. Pure.

Conventions (for the hospital's interface team):
- A02: the patient is PID-3.1, the admission PV1-19; the new location is PV1-3 (department
  code PV1-3.1, description PV1-3.9, ward PV1-3.2, bed PV1-3.3), the prior one PV1-6; the time
  is EVN-6 (event occurred), else EVN-2, else MSH-7. A department code outside
  `REGISTRATION_HL7_KNOWN_DEPARTMENTS` (when that list is set) is refused, AE naming PV1-3.
- A40: each PID/MRG pair is one merge: PID-3.1 survives, MRG-1.1 is merged into it (the
  pairs are taken in order: PID n goes with MRG n). A missing MRG-1, or the same id on both
  sides, is refused, AE naming MRG-1. The merge's event is keyed by the merged id.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from hospital_shared.service_events.registration import PatientsMerged, PatientTransferred
from registration.hl7_messages import (
    APPLICATION_ERROR,
    REQUIRED_FIELD_MISSING,
    Hl7Error,
    has_segment,
    hl7_time,
)
from registration.hl7_values import get

# Where each payload field comes from, to name it in ERR-2.
TRANSFER_LOCATIONS = {
    "patient_id": "PID^1^3", "admission_id": "PV1^1^19", "department": "PV1^1^3",
    "ward": "PV1^1^3", "bed": "PV1^1^3", "prior_department": "PV1^1^6",
    "transferred_at": "EVN^1^6",
}  # fmt: skip
MERGE_LOCATIONS = {
    "surviving_patient_id": "PID^1^3", "merged_patient_id": "MRG^1^1", "merged_at": "EVN^1^2",
}  # fmt: skip

# (payload model, fields) -> validated payload; raises Hl7Error naming the field.
Validate = Callable[[type[BaseModel], dict[str, Any], dict[str, str]], Any]
Department = Callable[[Any, str], dict[str, str] | None]


def transfer(
    m: Any,
    *,
    when: datetime,
    tz: Any,
    known_departments: frozenset[str],
    department_of: Department,
    validate: Validate,
) -> PatientTransferred:
    """The transfer an A02 stands for."""
    department = department_of(m, "PV1.F3")
    code = (department or {}).get("code", "")
    if code and known_departments and code.upper() not in known_departments:
        raise Hl7Error(
            "AE", APPLICATION_ERROR, f"PV1-3 (department): unknown department {code!r}", "PV1^1^3"
        )
    fields = {
        "patient_id": get(m, "PID.F3.R1.C1"),
        "admission_id": get(m, "PV1.F19.R1.C1"),
        "department": department,
        "ward": get(m, "PV1.F3.R1.C2"),
        "bed": get(m, "PV1.F3.R1.C3"),
        "prior_department": department_of(m, "PV1.F6"),
        "transferred_at": hl7_time(get(m, "EVN.F6"), tz, "EVN^1^6") or when,
    }
    kept = {k: v for k, v in fields.items() if v not in (None, "", {})}
    result: PatientTransferred = validate(PatientTransferred, kept, TRANSFER_LOCATIONS)
    return result


def merges(m: Any, *, when: datetime, validate: Validate) -> list[PatientsMerged]:
    """The merges an A40 stands for, one per PID/MRG pair, in order."""
    if not has_segment(m, "MRG"):
        raise Hl7Error("AE", REQUIRED_FIELD_MISSING, "MRG segment missing (merged id)", "MRG^1^1")
    found: list[PatientsMerged] = []
    n = 1
    while get(m, f"PID{n}.F1") or get(m, f"PID{n}.F3.R1.C1") or get(m, f"MRG{n}.F1.R1.C1"):
        surviving, merged = get(m, f"PID{n}.F3.R1.C1"), get(m, f"MRG{n}.F1.R1.C1")
        if not merged:
            raise Hl7Error(
                "AE", REQUIRED_FIELD_MISSING, "MRG-1 (merged_patient_id): Field required",
                f"MRG^{n}^1",
            )  # fmt: skip
        if merged == surviving:
            raise Hl7Error(
                "AE", APPLICATION_ERROR,
                "MRG-1 (merged_patient_id): the same id as PID-3, nothing to merge", f"MRG^{n}^1",
            )  # fmt: skip
        fields = {"surviving_patient_id": surviving, "merged_patient_id": merged, "merged_at": when}
        found.append(validate(PatientsMerged, fields, MERGE_LOCATIONS))
        n += 1
    return found
