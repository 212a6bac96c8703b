"""Visits and admissions, and what each incoming fact does to them. Pure: no I/O.

A `Ledger` holds the visits an intake batch touches (loaded by the repository) and applies the
intakes in order. A cancellation or no-show for a visit we have not seen yet is held, and
applied right after the visit arrives: both facts are then published, in order, under the
patient's key, so downstream sees the visit and its cancellation as the hospital meant them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from hospital_shared.events import (
    ComplaintSubmitted,
    DischargeCancelled,
    FeedbackSubmitted,
    Patient,
    PatientDischarged,
    QueueReported,
    RegistrationCancelled,
    RegistrationCreated,
    RegistrationNoShow,
)
from hospital_shared.service_events.registration import PatientDetailsUpdated, PatientTransferred
from registration.intake import (
    Admission,
    AdmissionCancelled,
    DischargeNotice,
    Intake,
    Outgoing,
    Rejection,
    Result,
    VisitCancelled,
)
from registration.phones import PhoneCheck


class Kind(StrEnum):
    REGISTRATION = "registration"
    ADMISSION = "admission"


class Status(StrEnum):
    REGISTERED = "registered"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"
    ADMITTED = "admitted"
    ADMISSION_CANCELLED = "admission_cancelled"
    DISCHARGED = "discharged"
    DISCHARGE_CANCELLED = "discharge_cancelled"  # in hospital again, after an A13


VisitKey = tuple[Kind, str]


@dataclass(slots=True)
class Visit:
    kind: Kind
    visit_id: str
    patient_id: str
    status: Status
    # The latest payload that describes the visit: its model when this batch made it (turned
    # into JSON once, when stored), its JSON form when loaded or changed here.
    record: BaseModel | dict[str, Any]
    phone_usable: bool = True

    def record_json(self) -> dict[str, Any]:
        if isinstance(self.record, BaseModel):
            self.record = _json(self.record)
        return self.record


# What a cancellation-like intake does to a visit in each status. Missing: hold it until the
# visit arrives. "same": a repeat, ignored. A string: the status it moves the visit to.
# Anything else is a conflict the sender has to sort out.
_CANCEL_REGISTRATION = {Status.REGISTERED: Status.CANCELLED, Status.CANCELLED: "same"}
_NO_SHOW = {Status.REGISTERED: Status.NO_SHOW, Status.NO_SHOW: "same"}
_CANCEL_ADMISSION = {
    Status.ADMITTED: Status.ADMISSION_CANCELLED,
    Status.DISCHARGE_CANCELLED: Status.ADMISSION_CANCELLED,
    Status.ADMISSION_CANCELLED: "same",
}
# An A13 resent under a new MSH-10 finds the discharge already cancelled: a repeat. Were the
# visit plain `admitted` again, the repeat was held and cancelled the next, real discharge.
# (A later A13 for a discharge not seen yet is told apart by its time: `_discharge_cancelled`.)
_CANCEL_DISCHARGE = {
    Status.DISCHARGED: Status.DISCHARGE_CANCELLED,
    Status.DISCHARGE_CANCELLED: "same",
}
_WAIT_FOR_DISCHARGE = {Status.ADMITTED}  # A13 before its A03 (never discharged): hold it too
# Kept in the admission's record: when (the A13's EVN-2, else MSH-7; a CloudEvent's time) its
# last discharge was cancelled. Absent for cancellations stored before it was kept.
_CANCELLED_AT = "discharge_cancelled_at"

NormalisePhone = Callable[[str], PhoneCheck]


@dataclass
class Ledger:
    normalise: NormalisePhone
    visits: dict[VisitKey, Visit] = field(default_factory=dict)
    pending: dict[VisitKey, list[Intake]] = field(default_factory=dict)
    changed: set[VisitKey] = field(default_factory=set)
    pending_changed: set[VisitKey] = field(default_factory=set)
    patient_updates: list[Patient] = field(default_factory=list)
    dropped: list[tuple[Intake, Rejection]] = field(default_factory=list)  # held, then unusable

    # --- the one entry point -------------------------------------------------------

    def apply(self, intake: Intake) -> Result:
        handler = _HANDLERS.get(intake.type)
        if handler is None:
            return Result(rejection=Rejection("type", f"unsupported type {intake.type!r}"))
        result: Result = handler(self, intake)
        return result

    # --- creating visits -----------------------------------------------------------

    def _registration_created(self, intake: Intake) -> Result:
        data = _as(intake, RegistrationCreated)
        key = (Kind.REGISTRATION, data.registration_id)
        if key in self.visits:
            return Result(ignored="registration already known")
        patient, phone = self._canonical(data.patient)
        data = data.model_copy(update={"patient": patient})
        self._save(Visit(*key, patient.patient_id, Status.REGISTERED, data, phone.usable))
        result = Result(published=[_out(intake, data, patient.patient_id, phone)])
        return self._release_pending(key, result)

    def _admission_recorded(self, intake: Intake) -> Result:
        data = _as(intake, Admission)
        key = (Kind.ADMISSION, data.admission_id)
        if key in self.visits:
            return Result(ignored="admission already known")
        patient, phone = self._canonical(data.patient)
        data = data.model_copy(update={"patient": patient})
        self._save(Visit(*key, patient.patient_id, Status.ADMITTED, data, phone.usable))
        return self._release_pending(key, Result())

    def _discharged(self, intake: Intake) -> Result:
        if isinstance(intake.data, DischargeNotice):
            notice = intake.data
            stored = self.visits.get((Kind.ADMISSION, notice.admission_id))
            base = _discharge_base(stored.record_json()) if stored else {}
            try:
                sent = {**notice.fields, "admission_id": notice.admission_id}
                data = PatientDischarged.model_validate(_merge(base, sent))
            except ValidationError as exc:
                return Result(rejection=_from_validation(exc))
        else:
            data = _as(intake, PatientDischarged)
        key = (Kind.ADMISSION, data.admission_id)
        visit = self.visits.get(key)
        if visit is not None and visit.status == Status.DISCHARGED:
            return Result(ignored="discharge already known")
        if visit is not None and visit.status == Status.ADMISSION_CANCELLED:
            return Result(rejection=Rejection("admission_id", "the admission was cancelled"))
        patient, phone = self._canonical(data.patient)
        data = data.model_copy(update={"patient": patient})
        last = _last_cancellation(visit)
        record = data if last is None else {**_json(data), _CANCELLED_AT: last.isoformat()}
        self._drop_resends_held_before_upgrade(key, visit)
        self._save(Visit(*key, patient.patient_id, Status.DISCHARGED, record, phone.usable))
        discharged = _out(intake, data, patient.patient_id, phone, type_="patient.discharged")
        return self._release_pending(key, Result(published=[discharged]))

    # --- changing visits -----------------------------------------------------------

    def _registration_cancelled(self, intake: Intake) -> Result:
        data = _as(intake, RegistrationCancelled)
        return self._transition(
            intake, (Kind.REGISTRATION, data.registration_id), _CANCEL_REGISTRATION
        )

    def _no_show(self, intake: Intake) -> Result:
        data = _as(intake, RegistrationNoShow)
        return self._transition(intake, (Kind.REGISTRATION, data.registration_id), _NO_SHOW)

    def _admission_cancelled(self, intake: Intake) -> Result:
        data = _as(intake, AdmissionCancelled)
        return self._transition(
            intake, (Kind.ADMISSION, data.admission_id), _CANCEL_ADMISSION, publish=False
        )

    def _discharge_cancelled(self, intake: Intake) -> Result:
        """ADT^A13. Its time tells a repeat from a cancellation of a later discharge: one
        recorded at or before the last cancellation is that one resent (under a new MSH-10)
        and changes nothing, whatever came since; one recorded after it, while the patient is
        back on the ward, is for a discharge whose A03 it overtook, and waits for it."""
        data = _as(intake, DischargeCancelled)
        key = (Kind.ADMISSION, data.admission_id)
        visit = self.visits.get(key)
        last = _last_cancellation(visit)
        if last is not None and intake.time <= last:
            return Result(ignored="discharge cancellation already applied")
        if visit is not None and (
            visit.status in _WAIT_FOR_DISCHARGE
            or (visit.status == Status.DISCHARGE_CANCELLED and last is not None)
        ):
            return self._hold(key, intake)
        result = self._transition(intake, key, _CANCEL_DISCHARGE)
        if result.published:
            cancelled = self.visits[key]
            when = intake.time.isoformat()
            cancelled.record = {**cancelled.record_json(), _CANCELLED_AT: when}
        return result

    def _drop_resends_held_before_upgrade(self, key: VisitKey, visit: Visit | None) -> None:
        """The A13s held for an admission whose discharge was cancelled with no time kept are
        that A13 resent under a new MSH-10, held by earlier code (0.14.0 and before: the A13
        had put the admission back to plain `admitted`; migration 360 renamed it). Once the
        next, real A03 came, they were released and cancelled it. Now an A13 is held there
        only when that time is kept (`_discharge_cancelled`), so each of these is an old
        one; one arriving now would be a repeat, and so are they: dropped (logged by
        ingest), not applied. A migration cannot pick them out: the record that tells is
        sealed (migration 370), and a held row's age does not say which code held it."""
        if visit is None or visit.status != Status.DISCHARGE_CANCELLED:
            return
        held = self.pending.get(key, [])
        resent = [h for h in held if h.type == "discharge.cancelled"]
        if not resent or _last_cancellation(visit) is not None:
            return
        self.pending[key] = [h for h in held if h.type != "discharge.cancelled"]
        self.pending_changed.add(key)
        why = "held before the upgrade: the A13 already applied, resent (its time was not kept)"
        self.dropped.extend((h, Rejection("admission_id", why)) for h in resent)

    def _visit_cancelled(self, intake: Intake) -> Result:
        """ADT^A11 cancels an admission (A01) or an outpatient visit (A04). One whose visit is
        not known yet waits for it, as an admission's or a registration's by its patient
        class (PV1-2); with PV1-2 empty it is refused (AE naming PV1-2): held as an
        admission's, it was lost when the A04 came, and the patient reminded."""
        data = _as(intake, VisitCancelled)
        as_admission = (Kind.ADMISSION, data.visit_id)
        as_registration = (Kind.REGISTRATION, data.visit_id)
        unknown = as_admission not in self.visits and as_registration not in self.visits
        if unknown and data.inpatient is None:
            why = "the visit is not known yet and the patient class is empty: say I or O"
            return Result(rejection=Rejection("inpatient", why, "missing"))
        if as_admission in self.visits or (data.inpatient and as_registration not in self.visits):
            command = AdmissionCancelled(admission_id=data.visit_id)
            return self._admission_cancelled(_retyped(intake, "admission.cancelled", command))
        cancel = RegistrationCancelled(
            registration_id=data.visit_id, cancelled_at=data.cancelled_at, reason=data.reason
        )
        return self._registration_cancelled(_retyped(intake, "registration.cancelled", cancel))

    def _details_updated(self, intake: Intake) -> Result:
        data = _as(intake, PatientDetailsUpdated)
        patient, phone = self._canonical(data.patient)
        data = data.model_copy(update={"patient": patient})
        self.patient_updates.append(patient)
        for visit in self.visits.values():
            if visit.patient_id == patient.patient_id:
                visit.record = {**visit.record_json(), "patient": patient.model_dump(mode="json")}
                visit.phone_usable = phone.usable
                self.changed.add((visit.kind, visit.visit_id))
        return Result(published=[_out(intake, data, patient.patient_id, phone)])

    def _transferred(self, intake: Intake) -> Result:
        """ADT^A02: the stored admission takes the new department, so a discharge that
        leaves PV1-3 out is completed (and its call planned) with where the patient is now."""
        data = _as(intake, PatientTransferred)
        visit = self.visits.get((Kind.ADMISSION, data.admission_id or ""))
        if visit is not None and visit.patient_id == data.patient_id:
            department = data.department.model_dump(mode="json")
            visit.record = {**visit.record_json(), "department": department}
            self.changed.add((visit.kind, visit.visit_id))
        return Result(published=[_out(intake, data, data.patient_id, None)])

    def _complaint(self, intake: Intake) -> Result:
        """A complaint or feedback (praise, a suggestion): the complainant's phone normalised
        as a patient's. A patient (by id, the canonical one) keys the event; a complainant the
        hospital has no id for (a relative, a visitor: name and phone only) and an anonymous
        one are keyed by its external id, the name and phone kept for the call back. A patient
        by id may come without a phone: there is none to normalise (or to flag)."""
        data = intake.data
        if not isinstance(data, ComplaintSubmitted | FeedbackSubmitted):
            raise TypeError(f"{intake.type} carries {type(data).__name__}")
        if data.patient is None:
            return Result(published=[_out(intake, data, data.external_id, None)])
        key = data.patient.patient_id or data.external_id
        if data.patient.phone is None:
            return Result(published=[_out(intake, data, key, None)])
        phone = self.normalise(data.patient.phone)
        complainant = data.patient.model_copy(update={"phone": phone.value})
        data = data.model_copy(update={"patient": complainant})
        return Result(published=[_out(intake, data, key, phone)])

    # --- helpers -------------------------------------------------------------------

    def _transition(
        self, intake: Intake, key: VisitKey, table: dict[Status, Any], *, publish: bool = True
    ) -> Result:
        visit = self.visits.get(key)
        if visit is None:
            return self._hold(key, intake)
        target = table.get(visit.status)
        if target == "same":
            return Result(ignored=f"{key[0]} already {visit.status}")
        if target is None:
            return Result(rejection=Rejection(_id_field(intake), f"the {key[0]} is {visit.status}"))
        visit.status = target
        self.changed.add(key)
        if not publish:
            return Result()
        return Result(published=[_out(intake, intake.data, visit.patient_id, None)])

    def _hold(self, key: VisitKey, intake: Intake) -> Result:
        held = self.pending.setdefault(key, [])
        if all(h.event_id != intake.event_id for h in held):
            held.append(intake)
            self.pending_changed.add(key)
        return Result(held=True)

    def _release_pending(self, key: VisitKey, result: Result) -> Result:
        """Apply what waited for this visit, in the order it arrived."""
        waiting = self.pending.pop(key, [])
        if waiting:
            self.pending_changed.add(key)
        for held in waiting:
            later = self.apply(held)
            if later.held:  # still waiting (a discharge cancellation before its discharge)
                continue
            if later.rejection is not None:
                self.dropped.append((held, later.rejection))
            result.published.extend(later.published)
        return result

    def _save(self, visit: Visit) -> None:
        key = (visit.kind, visit.visit_id)
        self.visits[key] = visit
        self.changed.add(key)

    def _canonical(self, patient: Patient) -> tuple[Patient, PhoneCheck]:
        phone = self.normalise(patient.phone)
        return patient.model_copy(update={"phone": phone.value}), phone


M = TypeVar("M", bound=BaseModel)


def _as(intake: Intake, model: type[M]) -> M:
    if not isinstance(intake.data, model):
        raise TypeError(f"{intake.type} carries {model.__name__}, not {type(intake.data).__name__}")
    return intake.data


def _retyped(intake: Intake, type_: str, data: BaseModel) -> Intake:
    return Intake(type_, data, intake.event_id, intake.time, intake.source, intake.correlation_id)


def _out(
    intake: Intake,
    data: BaseModel,
    patient_id: str,
    phone: PhoneCheck | None,
    *,
    type_: str | None = None,
) -> Outgoing:
    return Outgoing(
        type=type_ or intake.type,
        data=data,
        event_id=intake.event_id,
        time=intake.time,
        source=intake.source,
        patient_id=patient_id,
        correlation_id=intake.correlation_id,
        phone_status=phone.status if phone else None,
    )


def _json(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True)


def _last_cancellation(visit: Visit | None) -> datetime | None:
    """When the admission's last discharge was cancelled, if it was and that was kept."""
    if visit is None or isinstance(visit.record, BaseModel):  # a model: an A01/A03 just made
        return None
    when = visit.record.get(_CANCELLED_AT)
    return datetime.fromisoformat(when) if isinstance(when, str) else None


def _discharge_base(record: dict[str, Any]) -> dict[str, Any]:
    fields = ("admission_id", "patient", "department", "attending_doctor", "admitted_at")
    return {k: record[k] for k in fields if k in record}


def _merge(stored: dict[str, Any], sent: dict[str, Any]) -> dict[str, Any]:
    """What the message sent wins; a partly sent patient or department is completed."""
    merged = {**stored, **sent}
    for key in ("patient", "department"):
        if isinstance(stored.get(key), dict) and isinstance(sent.get(key), dict):
            merged[key] = {**stored[key], **sent[key]}
    return merged


def _id_field(intake: Intake) -> str:
    for name in ("registration_id", "admission_id", "visit_id"):
        if name in type(intake.data).model_fields:
            return name
    return "id"


def _queue_reported(ledger: Ledger, intake: Intake) -> Result:
    """A queue length is passed on as it came, keyed by the queue (no patient, no visit): the
    metrics service keeps the queue's episodes (registration keeps no state for it)."""
    data = _as(intake, QueueReported)
    return Result(published=[_out(intake, data, data.queue_id, None)])


def _from_validation(exc: ValidationError) -> Rejection:
    err = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in err["loc"])
    kind = "missing" if err["type"] == "missing" else "invalid"
    return Rejection(where, err["msg"], kind)


_HANDLERS: dict[str, Callable[[Ledger, Intake], Result]] = {
    "registration.created": Ledger._registration_created,
    "registration.cancelled": Ledger._registration_cancelled,
    "registration.no_show": Ledger._no_show,
    "patient.discharged": Ledger._discharged,
    "discharge.notice": Ledger._discharged,
    "discharge.cancelled": Ledger._discharge_cancelled,
    "admission.recorded": Ledger._admission_recorded,
    "admission.cancelled": Ledger._admission_cancelled,
    "visit.cancelled": Ledger._visit_cancelled,
    "patient.details_updated": Ledger._details_updated,
    "patient.transferred": Ledger._transferred,
    "complaint.submitted": Ledger._complaint,
    "feedback.submitted": Ledger._complaint,
    "queue.reported": _queue_reported,
}


# The visits an intake may touch, for the repository to load before the ledger runs.
def visit_keys(intake: Intake) -> list[VisitKey]:
    data = intake.data
    if isinstance(data, RegistrationCreated | RegistrationCancelled | RegistrationNoShow):
        return [(Kind.REGISTRATION, data.registration_id)]
    if isinstance(data, PatientDischarged | DischargeCancelled | Admission | AdmissionCancelled):
        return [(Kind.ADMISSION, data.admission_id)]
    if isinstance(data, DischargeNotice):
        return [(Kind.ADMISSION, data.admission_id)]
    if isinstance(data, VisitCancelled):
        return [(Kind.ADMISSION, data.visit_id), (Kind.REGISTRATION, data.visit_id)]
    if isinstance(data, PatientTransferred) and data.admission_id:
        return [(Kind.ADMISSION, data.admission_id)]
    return []
