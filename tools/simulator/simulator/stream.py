"""The simulated stream: a seeded, deterministic hospital day or week of input events.

The same `SimConfig` (seed, start, days, hospitals, rates, run id) always gives the same
events, ids included. Each hospital has its own random generator, so adding a hospital does
not change the others' streams. Events come out ordered by their occurrence time; one
patient's events share a Kafka key (the patient id), so they stay in order on one partition.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hospital_shared import topics
from hospital_shared.codec import encode
from hospital_shared.events import (
    CloudEvent,
    Complainant,
    ComplaintChannel,
    ComplaintSubmitted,
    Department,
    DischargeCancelled,
    Disposition,
    Doctor,
    Patient,
    PatientDischarged,
    RegistrationCancelled,
    RegistrationChannel,
    RegistrationCreated,
    RegistrationNoShow,
    VisitType,
    make_event,
)
from simulator.hospital import (
    APPOINTMENT_CHANNELS,
    COMPLAINT_CHANNELS,
    COMPLAINT_TEXTS,
    DEPARTMENTS,
    DOCTOR_SURNAMES,
    WALK_IN_CHANNELS,
    DepartmentProfile,
    Rates,
)
from simulator.people import Person, fake_mobile, fake_name

TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class SimConfig:
    start: datetime
    seed: int = 42
    days: float = 1.0
    hospitals: int = 1
    rates: Rates = field(default_factory=Rates)
    # Prefixes every id (patients, visits, admissions, complaints), so that several runs can
    # share one database and Kafka without colliding.
    run_id: str = "SIM"
    # Appended to department codes ("CARD" -> "CARD-x1"): isolates a run's department labels.
    department_tag: str = ""
    max_events: int | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if self.days <= 0 or self.hospitals < 1:
            raise ValueError("days must be > 0 and hospitals >= 1")

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)


@dataclass(frozen=True, slots=True)
class SimEvent:
    at: datetime
    topic: str
    key: str
    event: CloudEvent[Any]
    hospital: int

    @property
    def type(self) -> str:
        return self.event.type

    def value(self) -> bytes:
        return encode(self.event)


def generate(cfg: SimConfig) -> list[SimEvent]:
    """Every event of the simulated period, in time order (capped at `max_events`)."""
    events: list[SimEvent] = []
    for h in range(1, cfg.hospitals + 1):
        events.extend(_Hospital(cfg, h).events())
    events.sort(key=lambda e: (e.at, e.hospital, e.event.id))
    if cfg.max_events is not None:
        events = events[: cfg.max_events]
    return events


def _weighted(rng: random.Random, pairs: Sequence[tuple[Any, float]]) -> Any:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _count(rng: random.Random, expected: float) -> int:
    """An integer with mean `expected` (the fraction decides one more or not)."""
    whole = math.floor(expected)
    return whole + (1 if rng.random() < expected - whole else 0)


class _Hospital:
    def __init__(self, cfg: SimConfig, number: int) -> None:
        self.cfg = cfg
        self.h = number
        self.rng = random.Random(f"{cfg.seed}:{number}")
        self.prefix = f"{cfg.run_id}H{number:02d}"
        self.source = f"urn:his:hospital-{number:02d}"
        self.patients: list[Person] = []
        self.out: list[SimEvent] = []
        self.seq = {"P": 0, "R": 0, "A": 0, "C": 0}

    # --- ids and people --------------------------------------------------------------

    def _id(self, kind: str) -> str:
        self.seq[kind] += 1
        width = {"P": 7, "R": 8, "A": 7, "C": 6}[kind]
        return f"{self.prefix}-{kind}{self.seq[kind]:0{width}d}"

    def _event_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _new_patient(self) -> Person:
        rates = self.cfg.rates
        person = Person(
            patient_id=self._id("P"),
            name=fake_name(self.rng),
            phone=fake_mobile(self.rng),
            sms_opt_out=self.rng.random() < rates.sms_opt_out_share,
        )
        self.patients.append(person)
        return person

    def _known_patient(self) -> Person:
        if not self.patients:
            return self._new_patient()
        return self.rng.choice(self.patients)

    def _department(self, profiles: Sequence[tuple[DepartmentProfile, float]]) -> Department:
        profile: DepartmentProfile = _weighted(self.rng, profiles)
        code = (
            f"{profile.code}-{self.cfg.department_tag}" if self.cfg.department_tag else profile.code
        )
        return Department(code=code, name=profile.name)

    def _doctor(self, department: Department) -> Doctor:
        k = self.rng.randrange(1, 9)
        surname = DOCTOR_SURNAMES[(k * 7 + len(department.code)) % len(DOCTOR_SURNAMES)]
        return Doctor(id=f"D-{department.code}-{k:02d}", name=f"{surname}医生")

    # --- time -------------------------------------------------------------------------

    def _moment(self, low: float, high: float, peak: float) -> datetime:
        """A moment in the window at a local hour drawn from triangular(low, high, peak)."""
        cfg = self.cfg
        first_day = cfg.start.astimezone(TZ).date()
        n_days = max(1, math.ceil(cfg.days + 1))
        for _ in range(20):
            day = first_day + timedelta(days=self.rng.randrange(n_days))
            hours = self.rng.triangular(low, high, peak)
            at = datetime.combine(day, time(0), TZ) + timedelta(hours=hours)
            if cfg.start <= at < cfg.end:
                return at
        return cfg.start + timedelta(seconds=self.rng.uniform(0, cfg.days * 86400))

    def _emit(
        self, at: datetime, topic: str, key: str, type_: str, data: Any, subject: str
    ) -> None:
        event = make_event(
            type_, data, source=self.source, subject=subject, time=at, event_id=self._event_id()
        )
        self.out.append(SimEvent(at, topic, key, event, self.h))

    def _in_window(self, at: datetime) -> bool:
        return self.cfg.start <= at < self.cfg.end

    # --- the day ----------------------------------------------------------------------

    def events(self) -> list[SimEvent]:
        rates = self.cfg.rates
        visits = _count(self.rng, rates.visits_per_day * self.cfg.days)
        outpatient = [(d, d.outpatient_share) for d in DEPARTMENTS if d.outpatient_share > 0]
        inpatient = [(d, d.inpatient_share) for d in DEPARTMENTS if d.inpatient_share > 0]
        for _ in range(visits):
            self._registration(outpatient)
        for _ in range(_count(self.rng, visits * rates.discharges_per_visit)):
            self._discharge(inpatient)
        for _ in range(_count(self.rng, visits * rates.complaints_per_visit)):
            self._complaint(outpatient)
        return self.out

    def _registration(self, departments: Sequence[tuple[DepartmentProfile, float]]) -> None:
        rates = self.cfg.rates
        rng = self.rng
        first = rng.random() < rates.first_visit_share or not self.patients
        patient = self._new_patient() if first else self._known_patient()
        department = self._department(departments)
        booked = rng.random() < rates.appointment_share
        at = self._moment(7.0, 17.5, 8.5)
        appointment_at: datetime | None = None
        if booked:
            channel = _weighted(rng, APPOINTMENT_CHANNELS)
            if rng.random() < rates.same_day_appointment_share:
                appointment_at = at + timedelta(minutes=10 * rng.randrange(12, 37))
            else:
                day = at.astimezone(TZ).date() + timedelta(days=rng.randrange(1, 8))
                slot = timedelta(minutes=480 + 10 * rng.randrange(0, 51))
                appointment_at = datetime.combine(day, time(0), TZ) + slot
        else:
            channel = _weighted(rng, WALK_IN_CHANNELS)
        registration_id = self._id("R")
        data = RegistrationCreated(
            registration_id=registration_id,
            patient=Patient(**_patient_fields(patient)),
            department=department,
            doctor=self._doctor(department) if rng.random() < 0.8 else None,
            visit_type=VisitType.FIRST if first else VisitType.RETURN,
            channel=RegistrationChannel(channel),
            registered_at=at,
            appointment_at=appointment_at,
        )
        key = patient.patient_id
        self._emit(at, topics.REGISTRATIONS, key, "registration.created", data, registration_id)
        if appointment_at is None:
            return
        roll = rng.random()
        if roll < rates.cancellation_share:
            cancel_at = at + (appointment_at - at) * rng.uniform(0.05, 0.9)
            if self._in_window(cancel_at):
                reason = rng.choice(("行程变更", "病情好转", "改约其他时间", None))
                cancelled = RegistrationCancelled(
                    registration_id=registration_id, cancelled_at=cancel_at, reason=reason
                )
                self._emit(cancel_at, topics.REGISTRATIONS, key, "registration.cancelled",
                           cancelled, registration_id)  # fmt: skip
        elif roll < rates.cancellation_share + rates.no_show_share:
            missed_at = appointment_at + timedelta(minutes=30)
            if self._in_window(missed_at):
                no_show = RegistrationNoShow(registration_id=registration_id)
                self._emit(missed_at, topics.REGISTRATIONS, key, "registration.no_show",
                           no_show, registration_id)  # fmt: skip

    def _discharge(self, departments: Sequence[tuple[DepartmentProfile, float]]) -> None:
        rates = self.cfg.rates
        rng = self.rng
        patient = self._known_patient() if rng.random() < 0.3 else self._new_patient()
        department = self._department(departments)
        at = self._moment(9.0, 16.5, 10.5)
        roll = rng.random()
        disposition = Disposition.HOME
        for share, value in (
            (rates.deceased_share, Disposition.DECEASED),
            (rates.transferred_share, Disposition.TRANSFERRED),
            (rates.against_advice_share, Disposition.AGAINST_MEDICAL_ADVICE),
        ):
            if roll < share:
                disposition = value
                break
            roll -= share
        admission_id = self._id("A")
        data = PatientDischarged(
            admission_id=admission_id,
            patient=Patient(**_patient_fields(patient)),
            department=department,
            attending_doctor=self._doctor(department),
            admitted_at=at - timedelta(days=rng.uniform(1.5, 14)),
            discharged_at=at,
            disposition=disposition,
            diagnosis=None,
        )
        key = patient.patient_id
        self._emit(at, topics.DISCHARGES, key, "patient.discharged", data, admission_id)
        if disposition == Disposition.DECEASED and patient in self.patients:
            self.patients.remove(patient)  # nobody registers, complains or is texted after
        if rng.random() < rates.discharge_cancellation_share:
            undo_at = at + timedelta(minutes=rng.uniform(10, 120))
            if self._in_window(undo_at):
                self._emit(undo_at, topics.DISCHARGES, key, "discharge.cancelled",
                           DischargeCancelled(admission_id=admission_id), admission_id)  # fmt: skip

    def _complaint(self, departments: Sequence[tuple[DepartmentProfile, float]]) -> None:
        rng = self.rng
        patient = self._known_patient() if rng.random() < 0.85 else None
        department = self._department(departments) if rng.random() < 0.8 else None
        category, text = rng.choice(COMPLAINT_TEXTS)
        external_id = self._id("C")
        at = self._moment(8.0, 20.0, 10.0)
        data = ComplaintSubmitted(
            external_id=external_id,
            channel=ComplaintChannel(_weighted(rng, COMPLAINT_CHANNELS)),
            patient=Complainant(**_patient_fields(patient)) if patient else None,
            department=department,
            category=category if rng.random() < 0.5 else None,
            description=text,
            submitted_at=at,
        )
        key = patient.patient_id if patient else external_id
        self._emit(at, topics.COMPLAINTS_IN, key, "complaint.submitted", data, external_id)


def _patient_fields(person: Person) -> dict[str, Any]:
    return {
        "patient_id": person.patient_id,
        "name": person.name,
        "phone": person.phone,
        "sms_opt_out": person.sms_opt_out,
    }


def summarise(events: Sequence[SimEvent]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in events:
        counts[e.type] = counts.get(e.type, 0) + 1
    return dict(sorted(counts.items()))


def iter_values(events: Sequence[SimEvent]) -> Iterator[tuple[str, str, bytes]]:
    for e in events:
        yield e.topic, e.key, e.value()
