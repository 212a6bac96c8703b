"""The event contract: CloudEvents 1.0 envelopes (structured JSON mode) and their data.

Input events are what hospital systems publish; each service adds its own lifecycle events
in its package and registers them in `EVENT_TOPICS` through `register_event`. Every instant of
an input event (and every envelope's `time`) lies between 1900-01-01 and 2099-12-31 UTC
(`hospital_shared.bounds`): registration answers 422 outside them, a consumer dead-letters such
an event as a schema violation instead of failing on it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails

from hospital_shared import topics
from hospital_shared.bounds import EventTime
from hospital_shared.vocabulary import ComplaintChannel as ComplaintChannel
from hospital_shared.vocabulary import Disposition as Disposition
from hospital_shared.vocabulary import EventName
from hospital_shared.vocabulary import FeedbackChannel as FeedbackChannel
from hospital_shared.vocabulary import FeedbackKind as FeedbackKind
from hospital_shared.vocabulary import RegistrationChannel as RegistrationChannel
from hospital_shared.vocabulary import VisitType as VisitType

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]


class Contract(BaseModel):
    """Base of every event payload: frozen, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Patient(Contract):
    patient_id: NonEmpty
    name: NonEmpty
    phone: Phone
    sms_opt_out: bool = False


class Complainant(Contract):
    """Who lodged a complaint, praise or a suggestion: a patient, by their hospital id, or
    someone the hospital has no id for (a relative, a visitor) by name and phone. Without a
    `patient_id` the name and phone are all staff can call back and the acknowledgement SMS
    go to, so both are required; with one, either may be left out (the hospital knows the
    patient: their contact details on file are used). Every `Patient` is a valid complainant
    and means the same."""

    # A `Patient` object is taken as one too (`from_attributes`): Python code that built the
    # event with the patient it had kept working when the field's type changed. The JSON
    # Schema says the rule below as `anyOf` two sets of required members.
    model_config = ConfigDict(
        frozen=True, extra="forbid", from_attributes=True,
        json_schema_extra={"anyOf": [
            {"required": ["patient_id"], "properties": {"patient_id": {"type": "string"}}},
            {"required": ["name", "phone"],
             "properties": {"name": {"type": "string"}, "phone": {"type": "string"}}},
        ]},
    )  # fmt: skip

    patient_id: NonEmpty | None = None
    name: NonEmpty | None = None
    phone: Phone | None = None
    sms_opt_out: bool = False

    @model_validator(mode="after")
    def _reachable_without_an_id(self) -> Complainant:
        check_reachable(self)
        return self


def check_reachable(complainant: Any) -> None:
    """The rule of a `Complainant`, for any model with its `patient_id`, `name` and `phone`
    (the complaints service's request bodies refuse what this contract would): without a
    patient id, a missing (or empty) name or phone is refused."""
    # Raised as the fields' own `missing` errors, so a rejection names `data.patient.name`
    # as it did when the field itself was required (and carries no personal data).
    if complainant.patient_id:
        return
    missing = [f for f in ("name", "phone") if not getattr(complainant, f)]
    if missing:
        raise ValidationError.from_exception_data(
            type(complainant).__name__,
            [InitErrorDetails(type="missing", loc=(f,), input=None) for f in missing],
        )


class Department(Contract):
    code: NonEmpty
    name: NonEmpty


class Doctor(Contract):
    id: NonEmpty
    name: NonEmpty


# --- hospital.registrations.v1 -------------------------------------------------------


class RegistrationCreated(Contract):
    """A patient registered for an outpatient visit (挂号)."""

    registration_id: NonEmpty
    patient: Patient
    department: Department
    doctor: Doctor | None = None
    visit_type: VisitType
    channel: RegistrationChannel
    registered_at: EventTime
    appointment_at: EventTime | None = None


class RegistrationCancelled(Contract):
    registration_id: NonEmpty
    cancelled_at: EventTime
    reason: str | None = None


class RegistrationNoShow(Contract):
    registration_id: NonEmpty


# --- hospital.discharges.v1 ----------------------------------------------------------


class PatientDischarged(Contract):
    """An inpatient left the hospital (出院)."""

    admission_id: NonEmpty
    patient: Patient
    department: Department
    attending_doctor: Doctor | None = None
    admitted_at: EventTime
    discharged_at: EventTime
    disposition: Disposition
    diagnosis: str | None = None


class DischargeCancelled(Contract):
    admission_id: NonEmpty


# --- hospital.complaints.v1 ----------------------------------------------------------


class ComplaintSubmitted(Contract):
    """A complaint (投诉) lodged at a desk, by phone, online, or raised in a follow-up call.
    `patient` is who lodged it: a patient by id (name and phone optional: the hospital has
    them), or a relative or visitor the hospital has no patient id for (name and phone
    required); none for an anonymous complaint."""

    external_id: NonEmpty
    channel: ComplaintChannel
    patient: Complainant | None = None
    department: Department | None = None
    category: str | None = None
    description: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)
    ]
    submitted_at: EventTime


class FeedbackSubmitted(Contract):
    """Praise (表扬) or a suggestion (建议) from a hospital system, taken through the same door as
    complaints: the complaints service records it once per `external_id`."""

    external_id: NonEmpty
    kind: FeedbackKind
    channel: FeedbackChannel
    patient: Complainant | None = None  # as a complaint's: with or without a patient id
    department: Department | None = None
    # The member of staff praised (a roster id); their department when none is given.
    staff_id: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None
    ) = None
    category: str | None = None
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
    submitted_at: EventTime


# --- hospital.queues.v1 -------------------------------------------------------------


class QueueReported(Contract):
    """How many people wait at a registration window or a department's queue (挂号排队), as a
    hospital system counted them at `reported_at`. Keyed by `queue_id`, so one queue's reports
    keep their order."""

    # At most 40 characters: the queue is a label of the live gauges, kept whole.
    queue_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    department_code: NonEmpty
    length: Annotated[int, Field(ge=0, le=100_000)]
    reported_at: EventTime
    queue_name: str | None = None  # e.g. "门诊挂号3号窗口", for the supervisor's note


# --- the envelope --------------------------------------------------------------------

DataT = TypeVar("DataT", bound=BaseModel)


class CloudEvent(BaseModel, Generic[DataT]):
    """A CloudEvents 1.0 event in structured JSON mode; `data` is the typed payload."""

    model_config = ConfigDict(frozen=True, extra="allow")

    # `id` and `specversion` are required, as CloudEvents says: an event without an id could
    # not be recognised when it is delivered again.
    specversion: Literal["1.0"]
    id: NonEmpty
    source: NonEmpty
    type: NonEmpty
    time: EventTime
    subject: NonEmpty | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    # The JSON Schema `data` follows: the `$id` of `docs/events/<type>.schema.json`
    # (`dataschema_of`), set on every event the platform publishes.
    dataschema: str | None = None
    correlationid: str | None = None
    data: DataT


DATASCHEMA_PREFIX = "urn:hospital:event-schema:"


def dataschema_of(type_: str) -> str:
    """The CloudEvents `dataschema` of events of `type_`: a name rather than an address, since
    the platform's schemas are files of its release (`docs/events`, whose `$id` it is), not a
    server a consumer could be made to depend on."""
    return DATASCHEMA_PREFIX + type_


class EventType:
    """One event type: its CloudEvents `type`, payload model and topic."""

    def __init__(self, type_: str, model: type[BaseModel], topic: str) -> None:
        self.type = type_
        self.model = model
        self.topic = topic


# The one map from event type to payload model and topic.
EVENT_TYPES: dict[str, EventType] = {}


def register_event(type_: str, model: type[BaseModel], topic: str) -> None:
    type_ = str(type_)  # an `EventName`: kept as its plain value
    existing = EVENT_TYPES.get(type_)
    if existing is not None and (existing.model is not model or existing.topic != topic):
        raise ValueError(f"event type {type_!r} is already registered differently")
    EVENT_TYPES[type_] = EventType(type_, model, topic)


for _type, _model, _topic in (
    (EventName.REGISTRATION_CREATED, RegistrationCreated, topics.REGISTRATIONS),
    (EventName.REGISTRATION_CANCELLED, RegistrationCancelled, topics.REGISTRATIONS),
    (EventName.REGISTRATION_NO_SHOW, RegistrationNoShow, topics.REGISTRATIONS),
    (EventName.PATIENT_DISCHARGED, PatientDischarged, topics.DISCHARGES),
    (EventName.DISCHARGE_CANCELLED, DischargeCancelled, topics.DISCHARGES),
    (EventName.COMPLAINT_SUBMITTED, ComplaintSubmitted, topics.COMPLAINTS_IN),
    (EventName.FEEDBACK_SUBMITTED, FeedbackSubmitted, topics.COMPLAINTS_IN),
    (EventName.QUEUE_REPORTED, QueueReported, topics.QUEUE_REPORTS),
):
    register_event(_type, _model, _topic)

INPUT_EVENT_TYPES: tuple[str, ...] = tuple(EVENT_TYPES)


def topic_for(type_: str) -> str:
    return EVENT_TYPES[type_].topic


def make_event(
    type_: str,
    data: BaseModel,
    *,
    source: str,
    subject: str,
    time: datetime,
    correlation_id: str | None = None,
    event_id: str | None = None,
) -> CloudEvent[Any]:
    """Build an envelope for `data`, checking that the payload model matches the type."""
    expected = EVENT_TYPES[type_].model
    if not isinstance(data, expected):
        raise TypeError(f"{type_} carries {expected.__name__}, not {type(data).__name__}")
    fields: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": source,
        "type": type_,
        "time": time,
        "subject": subject,
        "dataschema": dataschema_of(type_),
        "data": data,
        "correlationid": correlation_id,
    }
    return envelope_of(type(data))(**fields)


@cache
def envelope_of(model: type[BaseModel]) -> type[CloudEvent[Any]]:
    """`CloudEvent[model]`, made once (pydantic's own lookup costs a few µs per event)."""
    return CloudEvent[model]  # type: ignore[valid-type]


def event_types_on(*topic_names: str) -> list[str]:
    """Every registered event type carried on `topic_names` (services' types included once
    `hospital_shared.service_events` is imported)."""
    return [t.type for t in EVENT_TYPES.values() if t.topic in topic_names]
