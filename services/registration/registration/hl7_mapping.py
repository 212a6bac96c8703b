"""Which HL7 fields make which canonical payload. Pure.

ADT (PID, PV1, EVN, DG1):  A04 registration, A01 admission, A03 discharge, A11 cancel
admission/visit, A13 cancel discharge, A08 patient details; A02 transfer and A40 merge (PID,
MRG) in `hl7_patient_moves`. SIU (SCH, PID, AIS, AIL, AIP):
S12 booking, S15 cancellation, S26 no-show.

Conventions where HL7 leaves a choice (documented for the hospital's interface team):
- visit / admission id: PV1-19 (ADT); appointment id: SCH-2 (filler), else SCH-1 (placer);
- department: PV1-3.1 code and PV1-3.9 description (else PV1-10), AIL-3 for SIU; a missing
  description uses the code as the name;
- phone: the PID-13 repetition whose XTN-3 is `CP` (cell phone), else the first; the number
  is XTN-1, else XTN-12 (unformatted), else XTN-5+6+7;
- visit type: PV1-4 (ADT) or SCH-8 (SIU) against the configured first/return codes;
- discharge disposition: PV1-36 (HL7 table 0112).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from hospital_shared.events import (
    DischargeCancelled,
    RegistrationCancelled,
    RegistrationCreated,
    RegistrationNoShow,
)
from hospital_shared.service_events.registration import PatientDetailsUpdated
from registration import hl7_patient_moves
from registration.hl7_messages import (
    DATA_TYPE_ERROR,
    REQUIRED_FIELD_MISSING,
    Hl7Error,
    Received,
    event_id,
    has_segment,
    hl7_time,
    repetitions,
)
from registration.hl7_values import get
from registration.intake import (
    Admission,
    DischargeNotice,
    Intake,
    VisitCancelled,
)


@dataclass(frozen=True)
class Hl7Options:
    tz: ZoneInfo
    source: str
    first_visit_codes: frozenset[str]
    return_visit_codes: frozenset[str]
    default_visit_type: str
    adt_channel: str
    siu_channel: str
    known_departments: frozenset[str] = frozenset()


_DISPOSITIONS = {
    "01": "home", "02": "transferred", "03": "transferred", "04": "transferred",
    "05": "transferred", "06": "home", "07": "against_medical_advice",
    "20": "deceased", "40": "deceased", "41": "deceased", "42": "deceased",
}  # fmt: skip

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")

# Where each payload field comes from, to name it in ERR-2 when it is missing or wrong.
_ADT_LOCATIONS = {
    "registration_id": "PV1^1^19", "admission_id": "PV1^1^19", "visit_id": "PV1^1^19",
    "inpatient": "PV1^1^2",
    "patient.patient_id": "PID^1^3", "patient.name": "PID^1^5", "patient.phone": "PID^1^13",
    "patient": "PID^1^3", "department": "PV1^1^3", "doctor": "PV1^1^7",
    "attending_doctor": "PV1^1^7", "registered_at": "EVN^1^2", "admitted_at": "PV1^1^44",
    "discharged_at": "PV1^1^45", "updated_at": "EVN^1^2", "cancelled_at": "EVN^1^2",
    "disposition": "PV1^1^36",
}  # fmt: skip
_SIU_LOCATIONS = {
    **_ADT_LOCATIONS,
    "registration_id": "SCH^1^2", "department": "AIL^1^3", "doctor": "AIP^1^3",
    "appointment_at": "AIS^1^4", "registered_at": "SCH^1^2", "cancelled_at": "MSH^1^7",
}  # fmt: skip


_LATER_ADT_LOCATIONS = {
    **hl7_patient_moves.TRANSFER_LOCATIONS,
    **hl7_patient_moves.MERGE_LOCATIONS,
    **_ADT_LOCATIONS,
}


def to_intakes(received: Received, options: Hl7Options) -> list[Intake]:
    """The intakes one message stands for (one, except for none-such cases); Hl7Error (AE)
    naming the field when the message cannot make a valid payload."""
    h = received.header
    m = received.message
    kind = (h.message_type, h.trigger)
    locations = _SIU_LOCATIONS if h.message_type == "SIU" else _ADT_LOCATIONS
    when = _when(m, options.tz)

    def intake(type_: str, model: type[BaseModel], fields: dict[str, Any]) -> Intake:
        data = _validate(model, fields, locations)
        return Intake(type_, data, event_id(h), when, options.source, h.control_id)

    if kind == ("ADT", "A04"):
        return [intake("registration.created", RegistrationCreated, _adt_visit(m, options, when))]
    if kind == ("ADT", "A01"):
        return [intake("admission.recorded", Admission, _admission(m, options, when))]
    if kind == ("ADT", "A03"):
        return [intake("discharge.notice", DischargeNotice, _discharge(m, options, when))]
    if kind == ("ADT", "A11"):
        fields: dict[str, Any] = {
            "visit_id": get(m, "PV1.F19.R1.C1"),
            "inpatient": {"I": True, "": None}.get(get(m, "PV1.F2"), False),
            "cancelled_at": when,
            "reason": get(m, "EVN.F4") or None,
        }
        return [intake("visit.cancelled", VisitCancelled, fields)]
    if kind in (("ADT", "A02"), ("ADT", "A40")):
        return _patient_moves(received, options, when)
    if kind == ("ADT", "A13"):
        fields = {"admission_id": get(m, "PV1.F19.R1.C1")}
        return [intake("discharge.cancelled", DischargeCancelled, fields)]
    if kind == ("ADT", "A08"):
        fields = {
            "patient": _patient(m),
            "updated_at": when,
            "visit_id": get(m, "PV1.F19.R1.C1") or None,
        }
        return [intake("patient.details_updated", PatientDetailsUpdated, fields)]
    appointment_id = get(m, "SCH.F2.R1.C1") or get(m, "SCH.F1.R1.C1")
    if kind == ("SIU", "S12"):
        return [intake("registration.created", RegistrationCreated, _booking(m, options, when))]
    if kind == ("SIU", "S15"):
        fields = {
            "registration_id": appointment_id,
            "cancelled_at": when,
            "reason": get(m, "SCH.F6.R1.C2") or get(m, "SCH.F6.R1.C1") or None,
        }
        return [intake("registration.cancelled", RegistrationCancelled, fields)]
    if kind == ("SIU", "S26"):
        return [
            intake("registration.no_show", RegistrationNoShow, {"registration_id": appointment_id})
        ]
    raise Hl7Error("AR", DATA_TYPE_ERROR, f"{h.message_type}^{h.trigger} is not taken here")


def _patient_moves(received: Received, options: Hl7Options, when: datetime) -> list[Intake]:
    """ADT^A02 (one transfer) and ADT^A40 (a merge per PID/MRG pair): `hl7_patient_moves`."""
    h, m = received.header, received.message

    def intake(type_: str, data: BaseModel, n: int = 0) -> Intake:
        return Intake(type_, data, event_id(h, n), when, options.source, h.control_id)

    if h.trigger == "A02":
        moved = hl7_patient_moves.transfer(
            m, when=when, tz=options.tz, known_departments=options.known_departments,
            department_of=_department, validate=_validate,
        )  # fmt: skip
        return [intake("patient.transferred", moved)]
    merges = hl7_patient_moves.merges(m, when=when, validate=_validate)
    return [intake("patient.merged", merge, n) for n, merge in enumerate(merges)]


# --- building payloads ----------------------------------------------------------------


def _adt_visit(m: Any, o: Hl7Options, when: datetime) -> dict[str, Any]:
    return _without_empty(
        {
            "registration_id": get(m, "PV1.F19.R1.C1"),
            "patient": _patient(m),
            "department": _department(m, "PV1.F3", fallback_code=get(m, "PV1.F10")),
            "doctor": _doctor(m, "PV1.F7"),
            "visit_type": _visit_type(get(m, "PV1.F4"), o),
            "channel": o.adt_channel,
            "registered_at": when,
        }
    )


def _booking(m: Any, o: Hl7Options, when: datetime) -> dict[str, Any]:
    start = get(m, "AIS.F4") or get(m, "SCH.F11.R1.C4")
    location = "AIS^1^4" if get(m, "AIS.F4") else "SCH^1^11"
    department = _department(m, "AIL.F3") if has_segment(m, "AIL") else None
    return _without_empty(
        {
            "registration_id": get(m, "SCH.F2.R1.C1") or get(m, "SCH.F1.R1.C1"),
            "patient": _patient(m),
            "department": department or _department(m, "PV1.F3", get(m, "PV1.F10")),
            "doctor": _doctor(m, "AIP.F3") or _doctor(m, "PV1.F7"),
            "visit_type": _visit_type(get(m, "SCH.F8.R1.C1"), o),
            "channel": o.siu_channel,
            "registered_at": when,
            "appointment_at": hl7_time(start, o.tz, location),
        }
    )


def _admission(m: Any, o: Hl7Options, when: datetime) -> dict[str, Any]:
    return _without_empty(
        {
            "admission_id": get(m, "PV1.F19.R1.C1"),
            "patient": _patient(m),
            "department": _department(m, "PV1.F3", get(m, "PV1.F10")),
            "attending_doctor": _doctor(m, "PV1.F7"),
            "admitted_at": hl7_time(get(m, "PV1.F44"), o.tz, "PV1^1^44") or when,
        }
    )


def _discharge(m: Any, o: Hl7Options, when: datetime) -> dict[str, Any]:
    """A03 fields as sent; the stored admission fills in what they leave out."""
    disposition = get(m, "PV1.F36")
    diagnosis = get(m, "DG1.F3.R1.C2") or get(m, "DG1.F3.R1.C1")
    fields = _without_empty(
        {
            "patient": _patient(m),
            "department": _department(m, "PV1.F3", get(m, "PV1.F10")),
            "attending_doctor": _doctor(m, "PV1.F7"),
            "admitted_at": hl7_time(get(m, "PV1.F44"), o.tz, "PV1^1^44"),
            "discharged_at": hl7_time(get(m, "PV1.F45"), o.tz, "PV1^1^45") or when,
            "disposition": _DISPOSITIONS.get(disposition, "home"),
            "diagnosis": diagnosis,
        }
    )
    return {"admission_id": get(m, "PV1.F19.R1.C1"), "fields": fields}


def _patient(m: Any) -> dict[str, Any]:
    family = get(m, "PID.F5.R1.C1")
    given = get(m, "PID.F5.R1.C2")
    if _CJK.search(family + given):
        name = family + given
    else:
        name = " ".join(p for p in (given, family) if p)
    return _without_empty({"patient_id": get(m, "PID.F3.R1.C1"), "name": name, "phone": _phone(m)})


# The contract's phone is at most 32 characters (`hospital_shared.events.Phone`). HIS systems
# put several numbers in one PID-13 (`13800138000/13900139000`, `..., ext. 1234 / ...`): such a
# field is cut at these separators and the first mobile among its numbers taken (else its
# first number, else its first 32 characters: flagged unusable, never a rejected visit).
PHONE_MAX = 32
_PHONE_SEPARATORS = re.compile(r"[/,;、，；|]+")
_CN_MOBILE = re.compile(r"(?:\+?86)?(1\d{10})")


def _one_number(field: str) -> str:
    """`field` when it fits the contract; else the number in it a message can go to."""
    if len(field) <= PHONE_MAX:
        return field
    pieces = [p.strip() for p in _PHONE_SEPARATORS.split(field) if p.strip()]
    for piece in pieces:
        if _CN_MOBILE.fullmatch(re.sub(r"[\s\-()]", "", piece)) and len(piece) <= PHONE_MAX:
            return piece
    fitting = [p for p in pieces if len(p) <= PHONE_MAX]
    return fitting[0] if fitting else field[:PHONE_MAX].strip()


def _phone(m: Any) -> str:
    return _one_number(_first_phone(m))


def _first_phone(m: Any) -> str:
    count = repetitions(m, "PID", 13)
    reps = range(1, count + 1)
    ordered = [r for r in reps if get(m, f"PID.F13.R{r}.C3") == "CP"] + list(reps)
    for r in ordered:
        k = f"PID.F13.R{r}"
        number = get(m, f"{k}.C1") or get(m, f"{k}.C12")
        if not number:
            number = "".join(get(m, f"{k}.C{c}") for c in (5, 6, 7))
            number = f"+{number}" if number and get(m, f"{k}.C5") else number
        if number:
            return number
    return ""


def _department(m: Any, key: str, fallback_code: str = "") -> dict[str, str] | None:
    code = get(m, f"{key}.R1.C1") or fallback_code
    name = get(m, f"{key}.R1.C9") or code
    return {"code": code, "name": name} if code else None


def _doctor(m: Any, key: str) -> dict[str, str] | None:
    doctor_id = get(m, f"{key}.R1.C1")
    if not doctor_id:
        return None
    family, given = get(m, f"{key}.R1.C2"), get(m, f"{key}.R1.C3")
    name = (
        family + given if _CJK.search(family + given) else " ".join(p for p in (given, family) if p)
    )
    return {"id": doctor_id, "name": name or doctor_id}


def _visit_type(code: str, o: Hl7Options) -> str:
    upper = code.upper()
    if upper in o.first_visit_codes:
        return "first"
    if upper in o.return_visit_codes:
        return "return"
    return o.default_visit_type


def _when(m: Any, tz: ZoneInfo) -> datetime:
    """When it happened: EVN-2 (recorded), else MSH-7; the message must say one of them."""
    for key, location in (("EVN.F2", "EVN^1^2"), ("MSH.F7", "MSH^1^7")):
        value = hl7_time(get(m, key), tz, location)
        if value is not None:
            return value
    raise Hl7Error("AE", REQUIRED_FIELD_MISSING, "no event time (EVN-2 or MSH-7)", "MSH^1^7")


def _without_empty(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v not in (None, "", {})}


def _validate(model: type[BaseModel], fields: dict[str, Any], locations: dict[str, str]) -> Any:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_input=False)[0]
        path = [str(p) for p in err["loc"] if p != "fields"]
        location = ""
        for end in range(len(path), 0, -1):
            location = locations.get(".".join(path[:end]), "")
            if location:
                break
        missing = err["type"] == "missing"
        return _raise(
            REQUIRED_FIELD_MISSING if missing else DATA_TYPE_ERROR,
            describe(location, ".".join(path), err["msg"]),
            location,
        )


def describe(location: str, field: str, message: str) -> str:
    """ERR-8 text naming the HL7 field and the payload field: `PID-13 (patient.phone): Field
    required`. (A visit without a phone is refused: the shared contract requires one.)"""
    parts = location.split("^")
    where = f"{parts[0]}-{parts[2]} " if len(parts) == 3 else ""
    return f"{where}({field}): {message}" if where else f"{field}: {message}"


def location_of(message_type: str, field: str) -> str:
    """The HL7 location (ERR-2) of a payload field, for rejections found later."""
    locations = _SIU_LOCATIONS if message_type == "SIU" else _LATER_ADT_LOCATIONS
    parts = field.split(".")
    for end in range(len(parts), 0, -1):
        found = locations.get(".".join(parts[:end]))
        if found:
            return found
    return ""


def _raise(code: int, text: str, location: str) -> Any:
    raise Hl7Error("AE", code, text, location)
