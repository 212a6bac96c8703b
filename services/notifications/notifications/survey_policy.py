"""Which contacts get a satisfaction survey by SMS link, and when. Pure: no I/O.

- a visit (`registration.created`): `survey_delay_h` after the appointment (or the
  registration, when no time was booked); a first visit (初诊) gets the first-visit
  questionnaire. Withdrawn with the visit (cancelled, no-show), as its reminder is;
- a discharge home or against medical advice: `survey_delay_h` after discharge. Never after
  a transfer (another hospital's care) nor a death (the patient is marked deceased and every
  waiting patient SMS is withdrawn and suppressed, the survey too);
- a closed complaint case: the satisfaction check (满意度回访), `survey_complaint_check_delay_h`
  after closing, at the latest when the case's check is due (within a week of closing).

Each invitation may be followed by one reminder (`survey_reminder_after_h`, same link),
made when it falls due if the survey is unanswered then (survey_reminders.py), withdrawn
if the survey is answered after that and before it goes. Opt-outs, quiet hours, the daily cap and the
deceased flag are the dispatcher's sending rules, as for every patient SMS.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from notifications.policy import Plan, Planned, PlanningRules, complainant_id
from notifications.survey_links import SurveyLink, hidden_url, link_id_for

INVITATION = "patient_survey_invitation"
COMPLAINT_CHECK = "complaint_survey_invitation"
REMINDER = "patient_survey_reminder"
AFTER_UNREACHABLE = "followup_survey_invitation"  # policy.plan_unreachable, its own link too
# The templates whose body carries a hidden link, revealed into its token when sent.
SURVEY_TEMPLATES = frozenset({INVITATION, COMPLAINT_CHECK, REMINDER, AFTER_UNREACHABLE})


def plan_visit_survey(data: Any, event_id: str, rules: PlanningRules) -> Plan:
    kind = "first_visit" if str(data.visit_type) == "first" else "outpatient_visit"
    if kind not in rules.survey.contacts:
        return Plan()
    after = data.appointment_at or data.registered_at
    return _invite(
        data.patient.patient_id, kind, f"registration:{data.registration_id}",
        data.department.code, event_id, due=after + rules.survey.delay, rules=rules,
    )  # fmt: skip


def plan_discharge_survey(data: Any, event_id: str, rules: PlanningRules) -> Plan:
    if str(data.disposition) not in ("home", "against_medical_advice"):
        return Plan()
    if "inpatient_discharge" not in rules.survey.contacts:
        return Plan()
    return _invite(
        data.patient.patient_id, "inpatient_discharge", f"admission:{data.admission_id}",
        data.department.code, event_id, due=data.discharged_at + rules.survey.delay, rules=rules,
    )  # fmt: skip


def plan_complaint_check(type_: str, data: Any, now: datetime, rules: PlanningRules) -> Plan:
    """`complaint.case_closed` of a case with a patient: the satisfaction check by link."""
    patient = data.patient
    if type_ != "complaint.case_closed" or patient is None or patient.sms_opt_out:
        return Plan()
    if "complaint_check" not in rules.survey.contacts:
        return Plan()
    due = now + rules.survey.complaint_check_delay
    if data.satisfaction_check_due_at is not None:
        due = max(now, min(due, data.satisfaction_check_due_at))
    key = f"complaint-check:{data.case_number}:{data.cycle}"
    plan = _invite(
        complainant_id(data), "complaint_check", f"case:{data.case_number}",
        data.department_code, key, due=due, rules=rules, template=COMPLAINT_CHECK,
    )  # fmt: skip
    return replace(plan, surveys=tuple(replace(s, case_cycle=data.cycle) for s in plan.surveys))


def _invite(
    patient_id: str,
    kind: str,
    contact_ref: str,
    department_code: str | None,
    key: str,
    *,
    due: datetime,
    rules: PlanningRules,
    template: str = INVITATION,
) -> Plan:
    survey = rules.survey
    # the reminder is made when it falls due, if the survey is unanswered then
    # (survey_reminders.py); planned here with the invitation, reminders were 18,053 of a
    # bench drain's 38,068 messages
    reminds = survey.reminder_after is not None and survey.reminder_after < survey.link_validity
    link = SurveyLink(
        link_id=link_id_for(key, contact_ref),
        patient_id=patient_id,
        contact_ref=contact_ref,
        contact_kind=kind,
        department_code=department_code,
        expires_at=due + survey.link_validity,
        reminder_due_at=due + survey.reminder_after if reminds and survey.reminder_after else None,
        reminder_key=key if reminds else None,
    )
    context = {**rules.common, "survey_url": hidden_url(survey.link_base, link.link_id)}
    invitation = Planned(
        template, key=key, due_at=due, expires_at=due + rules.validity,
        subject_ref=contact_ref, context=context, patient_id=patient_id,
    )  # fmt: skip
    return Plan(messages=(invitation,), surveys=(link,))


def reminder_of(link: Any, rules: PlanningRules) -> Planned:
    """The reminder of a link whose reminder is due (a `survey_links` row): the invitation's
    link again, until the link expires."""
    context = {**rules.common, "survey_url": hidden_url(rules.survey.link_base, link["link_id"])}
    return Planned(
        REMINDER, key=link["reminder_key"], due_at=link["reminder_due_at"],
        expires_at=link["expires_at"], subject_ref=link["contact_ref"], context=context,
        patient_id=link["patient_id"],
    )  # fmt: skip


def merged(first: Plan, second: Plan) -> Plan:
    """Two plans of one event as one."""
    return Plan(
        messages=first.messages + second.messages,
        withdrawals=first.withdrawals + second.withdrawals,
        deceased=first.deceased if first.deceased is not None else second.deceased,
        surveys=first.surveys + second.surveys,
    )
