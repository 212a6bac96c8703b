"""What arrives (an `Intake`, from REST or HL7) and what the domain makes of it: events to
publish (`Outgoing`) or a `Rejection` naming the field at fault. Plain data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel

from hospital_shared.events import (
    Contract,
    Department,
    Doctor,
    NonEmpty,
    Patient,
)

# Internal commands: facts HL7 tells us that have no event of their own downstream.
ADMISSION_RECORDED = "admission.recorded"  # ADT^A01
ADMISSION_CANCELLED = "admission.cancelled"  # ADT^A11 for an inpatient
DISCHARGE_NOTICE = "discharge.notice"  # ADT^A03: completed from the stored admission
VISIT_CANCELLED = "visit.cancelled"  # ADT^A11: an admission or an outpatient visit


class Admission(Contract):
    """An inpatient admission (ADT^A01), kept so a later discharge can be completed."""

    admission_id: NonEmpty
    patient: Patient
    department: Department
    attending_doctor: Doctor | None = None
    admitted_at: AwareDatetime


class AdmissionCancelled(Contract):
    admission_id: NonEmpty


class VisitCancelled(Contract):
    visit_id: NonEmpty
    inpatient: bool | None  # None: the patient class (PV1-2) was left empty
    cancelled_at: AwareDatetime
    reason: str | None = None


class DischargeNotice(Contract):
    """A discharge as HL7 sends it: fields it leaves out come from the stored admission."""

    admission_id: NonEmpty
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Intake:
    """One thing a hospital system told us, already validated into its payload model."""

    type: str
    data: BaseModel
    event_id: str
    time: datetime
    source: str
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An event to publish: its payload, and the patient it is keyed by."""

    type: str
    data: BaseModel
    event_id: str
    time: datetime
    source: str
    patient_id: str
    correlation_id: str | None = None
    phone_status: str | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an intake cannot be used; `field` is a dotted path into its data."""

    field: str
    message: str
    kind: str = "conflict"  # conflict | missing | invalid


@dataclass(slots=True)
class Result:
    published: list[Outgoing] = field(default_factory=list)
    rejection: Rejection | None = None
    held: bool = False
    ignored: str | None = None  # a repeat of something already known
