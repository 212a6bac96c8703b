"""Turning a discharge or an outpatient visit into a planned call, or into a reasoned "no
call". Pure: the policy, the clock and the hospital time zone are passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from followup.policy import (
    AGENT_OR_DOCTOR,
    PolicyBook,
    WorkingHours,
    call_window,
    discharge_route,
    is_sampled,
    visit_sampling,
)
from hospital_shared.events import Patient, PatientDischarged, RegistrationCreated


@dataclass(frozen=True)
class PlannedCall:
    """A follow-up task to create. `roles` are the staff roles that may make the call."""

    task_id: str
    kind: str
    rule: str
    patient_id: str
    patient_name: str | None
    patient_phone: str | None
    sms_opt_out: bool
    department_code: str
    department_name: str | None
    source_event_id: str
    source_ref: str
    not_before: datetime
    due_at: datetime
    roles: tuple[str, ...]
    max_attempts: int
    survey_invitation: bool = True
    parent_task_id: str | None = None


@dataclass(frozen=True)
class NotPlanned:
    """No call, and why (`rule`): for logs and metrics, never with patient data."""

    rule: str


Plan = PlannedCall | NotPlanned


def inpatient_task_id(admission_id: str) -> str:
    return f"FU-{admission_id}"


def outpatient_task_id(registration_id: str) -> str:
    return f"FU-OP-{registration_id}"


def _opted_out(patient: Patient, sms_opt_out_means_no_calls: bool) -> bool:
    return patient.sms_opt_out and sms_opt_out_means_no_calls


def plan_discharge(
    book: PolicyBook, tz: ZoneInfo, *, event_id: str, discharge: PatientDischarged
) -> Plan:
    policy = book.for_department(discharge.department.code)
    route = discharge_route(policy, discharge.disposition)
    if route.kind is None:
        return NotPlanned(route.rule)
    if _opted_out(discharge.patient, policy.sms_opt_out_means_no_calls):
        return NotPlanned("patient.opted_out")
    window = call_window(
        WorkingHours.of(policy, tz),
        discharge.discharged_at + timedelta(hours=policy.call_delay_hours),
        due_in=timedelta(days=policy.inpatient_due_days) - timedelta(hours=policy.call_delay_hours),
    )
    return PlannedCall(
        task_id=inpatient_task_id(discharge.admission_id),
        kind=route.kind,
        rule=route.rule,
        patient_id=discharge.patient.patient_id,
        patient_name=discharge.patient.name,
        patient_phone=discharge.patient.phone,
        sms_opt_out=discharge.patient.sms_opt_out,
        department_code=discharge.department.code,
        department_name=discharge.department.name,
        source_event_id=event_id,
        source_ref=discharge.admission_id,
        not_before=window.not_before,
        due_at=window.due_at,
        roles=route.roles,
        max_attempts=policy.max_call_attempts,
        survey_invitation=route.survey_invitation,
    )


def plan_visit(
    book: PolicyBook, tz: ZoneInfo, *, event_id: str, registration: RegistrationCreated
) -> Plan:
    policy = book.for_department(registration.department.code)
    sampling = visit_sampling(policy, registration.visit_type)
    if not is_sampled(registration.registration_id, sampling.rate):
        return NotPlanned(sampling.not_sampled_rule)
    if _opted_out(registration.patient, policy.sms_opt_out_means_no_calls):
        return NotPlanned("patient.opted_out")
    visit_at = registration.appointment_at or registration.registered_at
    # The call follows the visit: its window opens the working day after it (later by the
    # department's `call_delay_hours`), and it is due `outpatient_due_days` after the visit,
    # as a discharge call is: the delay holds the call back, it does not extend the limit.
    delay = timedelta(days=1, hours=policy.call_delay_hours)
    window = call_window(
        WorkingHours.of(policy, tz),
        visit_at + delay,
        due_in=timedelta(days=policy.outpatient_due_days) - delay,
    )
    return PlannedCall(
        task_id=outpatient_task_id(registration.registration_id),
        kind="outpatient_visit",
        rule=sampling.sampled_rule,
        patient_id=registration.patient.patient_id,
        patient_name=registration.patient.name,
        patient_phone=registration.patient.phone,
        sms_opt_out=registration.patient.sms_opt_out,
        department_code=registration.department.code,
        department_name=registration.department.name,
        source_event_id=event_id,
        source_ref=registration.registration_id,
        not_before=window.not_before,
        due_at=window.due_at,
        roles=AGENT_OR_DOCTOR,
        max_attempts=policy.max_call_attempts,
    )
