"""The effects a simulated stream must have, computed with the services' own pure rules
(follow-up planning, SMS planning), never re-implemented here.

Effects are what a user would notice:
- follow-up tasks (`followup.follow_up_tasks`): which task ids exist, and which are withdrawn;
- complaint cases (`complaints.cases`): one per (channel, external id);
- patient SMS (`notifications.messages`): how many messages of each template each patient
  has, and which of them must have gone to the gateway by the time the run is checked;
- KPI counters (`metrics.counter_totals`): the totals for the run's departments.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from simulator.stream import SimEvent

PATIENT_TEMPLATES = (
    "appointment_reminder",
    "discharge_care_notice",
    "discharge_safety_notice",
    "complaint_acknowledgement",
)


@dataclass(frozen=True, slots=True)
class Sms:
    patient_id: str
    phone: str
    template: str
    subject_ref: str | None
    due_at: datetime
    opted_out: bool


@dataclass
class Expected:
    tasks: dict[str, str] = field(default_factory=dict)  # task id -> open | withdrawn
    cases: set[tuple[str, str]] = field(default_factory=set)  # (channel, external id)
    sms: list[Sms] = field(default_factory=list)  # patient messages, certain
    sms_maybe: list[Sms] = field(default_factory=list)  # planned or not depending on timing
    withdrawn_subjects: set[str] = field(default_factory=set)
    deceased_patients: set[str] = field(default_factory=set)
    counters: Counter[str] = field(default_factory=Counter)  # metric -> total

    def sms_rows(self) -> Counter[tuple[str, str]]:
        return Counter((s.patient_id, s.template) for s in self.sms)

    def must_send(self, by: datetime) -> list[Sms]:
        """Certain messages that were due by `by` and that nothing may have stopped."""
        return [
            s
            for s in self.sms
            if s.due_at <= by
            and not s.opted_out
            and s.subject_ref not in self.withdrawn_subjects
            and s.patient_id not in self.deceased_patients
        ]


def expected_effects(
    events: Sequence[SimEvent],
    *,
    processed_from: datetime,
    processed_until: datetime,
    followup_env: Mapping[str, str] | None = None,
    notifications_env: Mapping[str, str] | None = None,
) -> Expected:
    """Expected effects of `events` processed between the two wall-clock moments (rules that
    look at the clock, like "no reminder for a visit less than an hour away", are evaluated
    at both ends; where they disagree the message is only "maybe")."""
    out = Expected()
    _followup(events, out, followup_env or {})
    _notifications(events, out, processed_from, processed_until, notifications_env or {})
    for e in events:
        data = e.event.data
        match e.type:
            case "registration.created":
                out.counters["hospital_registrations"] += 1
            case "registration.cancelled":
                out.counters["hospital_registration_cancellations"] += 1
            case "registration.no_show":
                out.counters["hospital_registration_no_shows"] += 1
            case "patient.discharged":
                out.counters["hospital_discharges"] += 1
            case "discharge.cancelled":
                out.counters["hospital_discharge_cancellations"] += 1
            case "complaint.submitted":
                out.cases.add((data.channel.value, data.external_id))
    out.counters["hospital_followup_tasks_planned"] = len(out.tasks)
    out.counters["hospital_followup_tasks_withdrawn"] = sum(
        1 for s in out.tasks.values() if s == "withdrawn"
    )
    return out


def _with_env(env: Mapping[str, str]) -> Any:
    import os

    class _Env:
        def __enter__(self) -> None:
            self.saved = {k: os.environ.get(k) for k in env}
            os.environ.update(env)

        def __exit__(self, *_: object) -> None:
            for k, v in self.saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    return _Env()


def _followup(events: Sequence[SimEvent], out: Expected, env: Mapping[str, str]) -> None:
    from followup.planning import (
        PlannedCall,
        inpatient_task_id,
        outpatient_task_id,
        plan_discharge,
        plan_visit,
    )
    from followup.service import policy_book
    from followup.settings import Settings

    with _with_env(env):
        settings = Settings()
    book = policy_book(settings)
    tz = ZoneInfo(settings.hospital_tz)
    deaths = _Deaths()
    for e in events:
        data = e.event.data
        plan: Any = None
        withdraw: str | None = None
        match e.type:
            case "patient.discharged":
                plan = plan_discharge(book, tz, event_id=e.event.id, discharge=data)
                contact_at = data.discharged_at
            case "registration.created":
                plan = plan_visit(book, tz, event_id=e.event.id, registration=data)
                contact_at = data.registered_at
            case "registration.cancelled" | "registration.no_show":
                withdraw = outpatient_task_id(data.registration_id)
            case "discharge.cancelled":
                withdraw = inpatient_task_id(data.admission_id)
                deaths.undone(data.admission_id)
        if isinstance(plan, PlannedCall) and plan.task_id not in out.tasks:
            out.tasks[plan.task_id] = "open"
            deaths.planned(plan, contact_at)
        if withdraw is not None and withdraw in out.tasks:
            out.tasks[withdraw] = "withdrawn"
        if e.type == "patient.discharged" and data.disposition.value == "deceased":
            deaths.reported(data.patient.patient_id, data.admission_id, data.discharged_at)
        deaths.withdraw(out.tasks)


class _Deaths:
    """Follow-up's death reports (deaths.py): a patient's calls of contacts before a reported
    death end withdrawn, whichever event the service reads first."""

    def __init__(self) -> None:
        self.by_patient: dict[str, tuple[str, datetime]] = {}  # -> (admission, time of death)
        self.calls: dict[str, list[tuple[str, str, datetime]]] = {}  # -> (task, kind, contact)

    def reported(self, patient_id: str, admission_id: str, at: datetime) -> None:
        self.by_patient[patient_id] = (admission_id, at)

    def undone(self, admission_id: str) -> None:
        self.by_patient = {p: d for p, d in self.by_patient.items() if d[0] != admission_id}

    def planned(self, plan: Any, contact_at: datetime) -> None:
        self.calls.setdefault(plan.patient_id, []).append((plan.task_id, plan.kind, contact_at))

    def withdraw(self, tasks: dict[str, str]) -> None:
        from followup.deaths import withdrawn_by_death

        for patient_id, (_, died_at) in self.by_patient.items():
            for task_id, kind, contact_at in self.calls.get(patient_id, ()):
                if tasks.get(task_id) == "open" and withdrawn_by_death(kind, contact_at, died_at):
                    tasks[task_id] = "withdrawn"


def _notifications(
    events: Sequence[SimEvent],
    out: Expected,
    t0: datetime,
    t1: datetime,
    env: Mapping[str, str],
) -> None:
    from notifications import policy
    from notifications.app import planning_rules
    from notifications.settings import Settings

    with _with_env(env):
        settings = Settings()
    rules = planning_rules(settings)
    phones: dict[str, tuple[str, bool]] = {}

    def add(plan: Any, certain: bool) -> None:
        for m in plan.messages:
            if m.patient_id is None or m.template not in PATIENT_TEMPLATES:
                continue
            phone, opted_out = phones[m.patient_id]
            sms = Sms(m.patient_id, phone, m.template, m.subject_ref, m.due_at, opted_out)
            (out.sms if certain else out.sms_maybe).append(sms)

    for e in events:
        data = e.event.data
        patient = getattr(data, "patient", None)
        if patient is not None:
            phones[patient.patient_id] = (patient.phone, patient.sms_opt_out)
        match e.type:
            case "registration.created":
                early = policy.plan_registration(data, e.event.id, t0, rules)
                late = policy.plan_registration(data, e.event.id, t1, rules)
                if bool(early.messages) == bool(late.messages):
                    add(early, certain=True)
                else:
                    add(early if early.messages else late, certain=False)
            case "registration.cancelled" | "registration.no_show":
                out.withdrawn_subjects.add(f"registration:{data.registration_id}")
            case "patient.discharged":
                plan = policy.plan_discharge(data, e.event.id, rules)
                add(plan, certain=True)
                if plan.deceased:
                    out.deceased_patients.add(data.patient.patient_id)
            case "discharge.cancelled":
                out.withdrawn_subjects.add(f"admission:{data.admission_id}")
            case "complaint.submitted" if patient is not None:
                # The complaints service opens the case; its "opened" event is what is texted.
                case = SimpleNamespace(
                    case_number=f"case-of-{data.external_id}",
                    cycle=1,
                    promised_response_by=t1 + timedelta(hours=24),
                    patient=patient,
                    assignee_id=None,
                    category="other",
                    priority="normal",
                )
                plan = policy.plan_case_changed("complaint.case_opened", case, t0, rules)
                add(plan, certain=True)
