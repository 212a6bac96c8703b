"""Who gets which message, and which events must never produce a cheerful one."""

from datetime import datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from hospital_shared.events import (
    Department,
    Disposition,
    Patient,
    PatientDischarged,
    RegistrationChannel,
    RegistrationCreated,
    VisitType,
)
from hospital_shared.service_events.complaints import CasePatient, ComplaintCaseChanged
from hospital_shared.service_events.followup import FollowUpTaskUnreachable
from notifications import policy
from notifications.policy import PlanningRules
from notifications.segments import count_segments
from notifications.settings import Settings
from notifications.templates import DEFAULT_TEMPLATES, check

SH = ZoneInfo("Asia/Shanghai")
RULES = PlanningRules(tz=SH, common={"hospital": "医院", "hotline": "12320", "survey_url": "u"})
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=SH)
PATIENT = Patient(patient_id="P1", name="张三", phone="13800138000")
DEPT = Department(code="CARD", name="心内科")


def discharge(disposition: Disposition) -> PatientDischarged:
    return PatientDischarged(
        admission_id="A1",
        patient=PATIENT,
        department=DEPT,
        admitted_at=NOW - timedelta(days=5),
        discharged_at=NOW,
        disposition=disposition,
    )


def registration(appointment_at: datetime | None) -> RegistrationCreated:
    return RegistrationCreated(
        registration_id="R1",
        patient=PATIENT,
        department=DEPT,
        visit_type=VisitType.FIRST,
        channel=RegistrationChannel.ONLINE,
        registered_at=NOW,
        appointment_at=appointment_at,
    )


def test_reminder_goes_the_evening_before_the_visit() -> None:
    plan = policy.plan_registration(registration(NOW + timedelta(days=2)), "e1", NOW, RULES)
    (reminder,) = plan.messages
    assert reminder.template == "appointment_reminder"
    assert reminder.due_at == datetime(2026, 11, 24, 18, 0, tzinfo=SH)
    assert reminder.expires_at == NOW + timedelta(days=2)
    assert reminder.subject_ref == "registration:R1"


def test_reminder_lead_time_mode() -> None:
    rules = PlanningRules(tz=SH, reminder_mode="lead_time", reminder_lead=timedelta(hours=3))
    plan = policy.plan_registration(registration(NOW + timedelta(days=2)), "e1", NOW, rules)
    assert plan.messages[0].due_at == NOW + timedelta(days=2, hours=-3)


def test_a_booking_made_after_the_reminder_time_is_reminded_at_once() -> None:
    plan = policy.plan_registration(registration(NOW + timedelta(hours=5)), "e1", NOW, RULES)
    assert plan.messages[0].due_at == NOW


def test_no_reminder_without_a_future_appointment() -> None:
    assert policy.plan_registration(registration(None), "e1", NOW, RULES).messages == ()
    assert (
        policy.plan_registration(registration(NOW - timedelta(hours=1)), "e1", NOW, RULES).messages
        == ()
    )
    soon = registration(NOW + timedelta(minutes=30))
    assert policy.plan_registration(soon, "e1", NOW, RULES).messages == ()


def test_cancellation_and_no_show_withdraw_the_reminder() -> None:
    plan = policy.plan_registration_withdrawn("R1", "cancelled")
    assert plan.withdrawals[0].subject_ref == "registration:R1"


def test_discharge_home_gets_the_care_notice() -> None:
    (notice,) = policy.plan_discharge(discharge(Disposition.HOME), "e1", RULES).messages
    assert notice.template == "discharge_care_notice"
    assert notice.due_at == NOW + RULES.discharge_notice_delay


def test_a_death_never_produces_a_patient_message_and_withdraws_waiting_ones() -> None:
    plan = policy.plan_discharge(discharge(Disposition.DECEASED), "e1", RULES)
    assert plan.messages == ()
    assert plan.deceased is True
    assert plan.withdrawals[0].patient_id == "P1"


def test_a_transfer_gets_no_care_notice() -> None:
    assert policy.plan_discharge(discharge(Disposition.TRANSFERRED), "e1", RULES).messages == ()


def test_leaving_against_medical_advice_gets_a_neutral_notice() -> None:
    (notice,) = policy.plan_discharge(
        discharge(Disposition.AGAINST_MEDICAL_ADVICE), "e", RULES
    ).messages
    assert notice.template == "discharge_safety_notice"
    body = next(t.body for t in DEFAULT_TEMPLATES if t.name == notice.template)
    assert "康复" not in body  # no good wishes to someone who left against advice


def unreachable(kind: str, **over: object) -> FollowUpTaskUnreachable:
    fields: dict[str, object] = {
        "task_id": "T1",
        "kind": kind,
        "patient_id": "P1",
        "department_code": "CARD",
        "attempts_made": 3,
        "source_ref": "A1",
        "patient_phone": "13800138000",
    }
    fields.update(over)
    return FollowUpTaskUnreachable(**fields)  # type: ignore[arg-type]


def test_unreachable_patient_is_invited_to_the_survey() -> None:
    plan = policy.plan_unreachable(unreachable("inpatient_discharge"), "e1", NOW, RULES)
    (msg,) = plan.messages
    assert msg.template == "followup_survey_invitation"
    # its own link for the discharge, as every survey invitation has (not a fixed URL)
    (link,) = plan.surveys
    assert (link.contact_ref, link.contact_kind) == ("admission:A1", "inpatient_discharge")
    assert msg.context["survey_url"].endswith(f"/s/~{link.link_id}")


def test_no_survey_invitation_after_a_bereavement_call_or_an_opt_out() -> None:
    assert policy.plan_unreachable(unreachable("bereavement_call"), "e1", NOW, RULES).messages == ()
    assert policy.plan_unreachable(unreachable("spot_check"), "e1", NOW, RULES).messages == ()
    opted = unreachable("inpatient_discharge", sms_opt_out=True)
    assert policy.plan_unreachable(opted, "e1", NOW, RULES).messages == ()


def case(status: str, **over: object) -> ComplaintCaseChanged:
    fields: dict[str, object] = {
        "case_number": "TS-20261123-0001",
        "status": status,
        "channel": "phone",
        "category": "waiting_time",
        "category_source": "submitted",
        "priority": "normal",
        "serious": False,
        "complex": False,
        "assignee_id": "S-AGENT-01",
        "patient": CasePatient(patient_id="P1", phone="13800138000"),
        "promised_response_by": NOW + timedelta(hours=24),
        "occurred_at": NOW,
    }
    fields.update(over)
    return ComplaintCaseChanged(**fields)  # type: ignore[arg-type]


def test_an_opened_case_acknowledges_the_patient_and_tells_the_handler() -> None:
    plan = policy.plan_case_changed("complaint.case_opened", case("received"), NOW, RULES)
    ack, assigned = plan.messages
    assert ack.template == "complaint_acknowledgement"
    assert ack.context["case_number"] == "TS-20261123-0001"
    assert ack.context["response_by"] == "11月24日 10:00"
    assert assigned.template == "staff_case_assigned" and assigned.staff_id == "S-AGENT-01"


def test_communicated_and_closed_give_one_outcome_per_cycle() -> None:
    a = policy.plan_case_changed("complaint.case_communicated", case("communicated"), NOW, RULES)
    b = policy.plan_case_changed("complaint.case_closed", case("closed"), NOW, RULES)
    assert a.messages[0].template == b.messages[0].template == "complaint_outcome"
    assert a.messages[0].key == b.messages[0].key  # the unique key keeps only the first


@pytest.mark.parametrize(
    ("event_type", "status"),
    [
        ("complaint.case_opened", "received"),
        ("complaint.case_acknowledged", "acknowledged"),
        ("complaint.case_communicated", "communicated"),
        ("complaint.case_closed", "closed"),
    ],
)
def test_an_opted_out_complainant_gets_no_acknowledgement_or_outcome(
    event_type: str, status: str
) -> None:
    """The handler is still told about the case; the patient who opted out hears nothing."""
    opted = CasePatient(patient_id="P1", phone="13800138000", sms_opt_out=True)
    plan = policy.plan_case_changed(event_type, case(status, patient=opted), NOW, RULES)
    assert [m for m in plan.messages if m.patient_id is not None] == []
    told = policy.plan_case_changed(event_type, case(status), NOW, RULES)
    assert [m.patient_id for m in told.messages if m.patient_id is not None] == ["P1"]


def test_every_patient_message_kind_respects_the_his_opt_out_flag() -> None:
    """Each planner that writes to a patient: the discharge notice and appointment reminder
    are checked again when sent (the opt-out is read then), the survey invitation and the
    complaint messages are not even planned."""
    opted = unreachable("inpatient_discharge", sms_opt_out=True)
    assert policy.plan_unreachable(opted, "e1", NOW, RULES).messages == ()
    ack = case("received", patient=CasePatient(patient_id="P1", sms_opt_out=True))
    assert (
        policy.plan_case_changed("complaint.case_opened", ack, NOW, RULES).messages
        == (
            policy.plan_case_changed(
                "complaint.case_opened", case("received", patient=None), NOW, RULES
            )
        ).messages
    )


def test_every_default_template_renders_and_fits_few_segments() -> None:
    for template in DEFAULT_TEMPLATES:
        text = check(template.body)
        assert count_segments(text).segments <= 3, template.name


def test_an_unknown_reminder_mode_is_refused_at_start_naming_the_setting(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # a typo must not silently fall back to "the evening before"
    monkeypatch.setenv("NOTIFICATIONS_REMINDER_MODE", "lead-time")
    with pytest.raises(ValidationError, match="reminder_mode"):
        Settings()
    monkeypatch.setenv("NOTIFICATIONS_REMINDER_MODE", "lead_time")
    assert Settings().reminder_mode == "lead_time"


@pytest.mark.parametrize(
    ("audience", "now", "wanted", "admin", "refused"),
    [
        ("patient", False, True, True, 422),  # never a patient's, even by an admin
        ("patient", False, True, False, 422),
        ("staff", False, True, False, 403),  # a supervisor cannot make a staff note urgent
        ("staff", True, False, False, 403),  # nor take the urgency off a breach alert
        ("staff", False, True, True, None),  # operations decides
        ("staff", True, False, True, None),
        ("patient", False, None, False, None),  # editing the text only
        ("patient", False, False, False, None),  # "not urgent" again: no change
        ("staff", True, True, False, None),
    ],
)
def test_who_may_make_a_template_urgent(
    audience: str, now: bool, wanted: bool | None, admin: bool, refused: int | None
) -> None:
    """Urgent messages skip quiet hours and the daily cap."""
    from notifications.templates import urgency_refusal

    got = urgency_refusal(audience=audience, urgent_now=now, urgent_wanted=wanted, by_admin=admin)
    assert (got[0] if got else None) == refused
    if got:
        assert got[1].startswith("urgent: ")


def test_a_reminder_needs_at_least_the_minimum_lead_before_the_visit() -> None:
    """An hour before the visit is still worth a reminder (sent at once); less is not."""
    just_enough = policy.plan_registration(registration(NOW + timedelta(hours=1)), "e", NOW, RULES)
    assert [m.due_at for m in just_enough.messages] == [NOW]
    too_late = registration(NOW + timedelta(minutes=59))
    assert policy.plan_registration(too_late, "e", NOW, RULES).messages == ()
    lead = PlanningRules(tz=SH, reminder_mode="lead_time", reminder_lead=timedelta(hours=24))
    (soon,) = policy.plan_registration(
        registration(NOW + timedelta(hours=3)), "e", NOW, lead
    ).messages
    assert soon.due_at == NOW and soon.expires_at == NOW + timedelta(hours=3)
    assert soon.context["appointment_time"] == "11月23日 13:00" and soon.patient_id == "P1"


def test_a_care_notice_is_valid_for_two_days_and_a_cancelled_discharge_takes_it_back() -> None:
    (notice,) = policy.plan_discharge(discharge(Disposition.HOME), "e1", RULES).messages
    assert notice.expires_at == notice.due_at + timedelta(hours=48)
    assert (notice.key, notice.subject_ref, notice.patient_id) == ("e1", "admission:A1", "P1")
    cancelled = policy.plan_discharge_cancelled("A1")
    assert cancelled.withdrawals[0].subject_ref == "admission:A1"
    assert cancelled.withdrawals[0].reason == "discharge_cancelled"
    assert cancelled.deceased is False  # a death recorded in error is undone


def test_no_survey_invitation_when_the_call_said_not_to_send_one() -> None:
    assert (
        policy.plan_unreachable(
            unreachable("inpatient_discharge", survey_invitation=False), "e1", NOW, RULES
        ).messages
        == ()
    )
    (invite,) = policy.plan_unreachable(unreachable("outpatient_visit"), "e1", NOW, RULES).messages
    assert (invite.due_at, invite.expires_at) == (NOW, NOW + timedelta(hours=48))
    assert (invite.subject_ref, invite.patient_id) == ("task:T1", "P1")


def task(**over: object) -> SimpleNamespace:
    fields: dict[str, object] = {
        "task_id": "T1", "kind": "inpatient_discharge", "due_at": NOW + timedelta(days=3),
        "assignee_id": "S-DOC-01", "department_code": "CARD",
    }  # fmt: skip
    return SimpleNamespace(**(fields | over))


def test_a_call_assigned_to_someone_tells_them_and_an_unassigned_one_tells_no_one() -> None:
    (note,) = policy.plan_task_assigned(task(), NOW, RULES).messages
    assert (note.template, note.staff_id, note.act_by) == (
        "staff_task_assigned", "S-DOC-01", NOW + timedelta(days=3),
    )  # fmt: skip
    assert note.key == "task-assigned:T1:S-DOC-01" and note.context["kind"] == "出院回访"
    assert policy.plan_task_assigned(task(assignee_id=None), NOW, RULES).messages == ()


def test_an_overdue_call_goes_to_its_assignee_else_to_the_departments_supervisor() -> None:
    (mine,) = policy.plan_task_overdue(task(), "e1", NOW, RULES).messages
    assert (mine.template, mine.staff_id, mine.supervisor_of) == (
        "staff_task_overdue", "S-DOC-01", None,
    )  # fmt: skip
    (nobodys,) = policy.plan_task_overdue(task(assignee_id=None), "e1", NOW, RULES).messages
    assert (nobodys.staff_id, nobodys.supervisor_of) == (None, "CARD")
    assert policy.plan_task_closed("T1", "completed").withdrawals[0].subject_ref == "task:T1"


def limit(level: str, **over: object) -> SimpleNamespace:
    fields: dict[str, object] = {
        "case_number": "TS-1", "category": "billing", "priority": "urgent", "limit": "fact_finding",
        "level": level, "due_at": NOW, "supervisor_id": None, "supervisor_department": None,
        "department_code": "CARD",
    }  # fmt: skip
    return SimpleNamespace(**(fields | over))


def test_a_breach_and_a_warning_go_to_the_case_supervisor_else_the_departments() -> None:
    (breach,) = policy.plan_time_limit(limit("breach"), "e1", NOW, RULES).messages
    assert breach.template == "staff_case_time_limit_breach"
    assert (breach.staff_id, breach.supervisor_of) == (None, "CARD")
    assert breach.context["limit"] == "调查核实" and breach.context["priority"] == "紧急"
    (warning,) = policy.plan_time_limit(
        limit("warning", supervisor_department="CS"), "e2", NOW, RULES
    ).messages
    assert (warning.template, warning.supervisor_of) == ("staff_case_time_limit_warning", "CS")
    (named,) = policy.plan_time_limit(
        limit("breach", supervisor_id="S-SUP-01"), "e", NOW, RULES
    ).messages
    assert (named.staff_id, named.supervisor_of) == ("S-SUP-01", None)


def test_a_reopened_case_tells_its_handler_but_acknowledges_the_patient_only_once() -> None:
    reopened = case("reopened", cycle=2)
    plan = policy.plan_case_changed("complaint.case_reopened", reopened, NOW, RULES)
    assert [m.template for m in plan.messages] == ["staff_case_assigned"]
    assert plan.messages[0].key == "case-assigned:TS-20261123-0001:2:S-AGENT-01"
    again = policy.plan_case_changed(
        "complaint.case_acknowledged", case("acknowledged", cycle=2), NOW, RULES
    )
    assert again.messages == ()
    no_promise = case("received", promised_response_by=None)
    opened = policy.plan_case_changed("complaint.case_opened", no_promise, NOW, RULES)
    assert [m.template for m in opened.messages] == ["staff_case_assigned"]
    withdrawn = policy.plan_case_changed("complaint.case_withdrawn", case("withdrawn"), NOW, RULES)
    assert (withdrawn.messages, withdrawn.withdrawals[0].subject_ref) == (
        (),
        "case:TS-20261123-0001",
    )


def test_a_later_event_updates_only_the_contact_details_it_gives() -> None:
    known = policy.Contact("P1", "+8613800138000", False)
    assert known.then(policy.Contact("P1", None, True)) == policy.Contact(
        "P1", "+8613800138000", True
    )
    assert known.then(policy.Contact("P1", "+8613900139000", None)) == policy.Contact(
        "P1", "+8613900139000", False
    )


def test_the_default_rules_are_the_documented_ones() -> None:
    """A care notice an hour after the discharge; in lead-time mode, a reminder 24 h before."""
    (notice,) = policy.plan_discharge(discharge(Disposition.HOME), "e1", RULES).messages
    assert notice.due_at == NOW + timedelta(hours=1)
    lead = PlanningRules(tz=SH, reminder_mode="lead_time")
    (reminder,) = policy.plan_registration(
        registration(NOW + timedelta(days=2)), "e1", NOW, lead
    ).messages
    assert reminder.due_at == NOW + timedelta(days=1)


def test_settings_read_from_text_choose_as_the_literals_do() -> None:
    """The reminder mode comes from settings and the alert level from a parsed event: text,
    not the literals in the code, so they are compared by value."""
    import json

    mode = json.loads('"lead_time"')
    lead = PlanningRules(tz=SH, reminder_mode=mode, reminder_lead=timedelta(hours=3))
    (reminder,) = policy.plan_registration(
        registration(NOW + timedelta(days=2)), "e", NOW, lead
    ).messages
    assert reminder.due_at == NOW + timedelta(days=2, hours=-3)
    (breach,) = policy.plan_time_limit(limit(json.loads('"breach"')), "e", NOW, RULES).messages
    assert breach.template == "staff_case_time_limit_breach"


def test_a_reminder_that_would_come_too_close_to_the_visit_is_not_sent() -> None:
    """Set to come 30 minutes before, a reminder falls under the one-hour minimum lead."""
    rules = PlanningRules(tz=SH, reminder_mode="lead_time", reminder_lead=timedelta(minutes=30))
    plan = policy.plan_registration(registration(NOW + timedelta(hours=3)), "e", NOW, rules)
    assert plan.messages == ()


def test_staff_alerts_and_complaint_outcomes_expire_two_days_after_they_are_planned() -> None:
    (overdue,) = policy.plan_task_overdue(task(), "e1", NOW, RULES).messages
    assert overdue.expires_at == NOW + timedelta(hours=48)
    (outcome,) = policy.plan_case_changed(
        "complaint.case_closed", case("closed", assignee_id=None), NOW, RULES
    ).messages
    assert outcome.template == "complaint_outcome"
    assert outcome.expires_at == NOW + timedelta(hours=48)


def test_an_escalation_tells_the_director_at_once_with_the_decision_time() -> None:
    limit = {
        "limit": "director_decision",
        "starts_at": NOW,
        "due_at": NOW + timedelta(hours=48),
        "warn_at": NOW + timedelta(hours=38),
    }
    escalated = case("resolution_proposed", director_id="S-DIR-01", time_limits=(limit,))
    plan = policy.plan_case_changed("complaint.case_escalated", escalated, NOW, RULES)
    [note] = plan.messages
    assert (note.template, note.staff_id, note.due_at) == ("staff_case_escalated", "S-DIR-01", NOW)
    assert note.context["due"] == "11月25日 10:00"
    assert note.act_by == NOW + timedelta(hours=48)
    again = policy.plan_case_changed("complaint.case_escalated", escalated, NOW, RULES)
    assert again.messages[0].key == note.key  # a redelivered event is one message


def test_no_director_no_escalation_message_and_other_steps_tell_nobody_new() -> None:
    assert (
        policy.plan_case_changed(
            "complaint.case_escalated", case("investigating"), NOW, RULES
        ).messages
        == ()
    )
    for step in ("found_unfounded", "resolution_implemented", "summary_signed_off"):
        plan = policy.plan_case_changed(
            f"complaint.case_{step}", case("investigating", director_id="S-DIR-01"), NOW, RULES
        )
        assert plan.messages == ()


def test_staff_notes_link_to_the_console_page_of_their_task_and_none_without_a_console() -> None:
    from dataclasses import replace

    from notifications.templates import DEFAULTS_BY_NAME, render

    rules = replace(RULES, console_base_url="https://console.example")
    (note,) = policy.plan_task_assigned(task(), NOW, rules).messages
    body = render(DEFAULTS_BY_NAME["staff_task_assigned"].body, note.context)
    assert body.endswith("前完成。 https://console.example/calls/T1")
    (plain,) = policy.plan_task_assigned(task(), NOW, RULES).messages
    assert render(DEFAULTS_BY_NAME["staff_task_assigned"].body, plain.context).endswith("前完成。")


def test_the_inbox_names_a_cases_category_and_the_directors_limit_in_chinese_not_as_codes() -> None:
    plan = policy.plan_case_changed("complaint.case_opened", case("received"), NOW, RULES)
    assert {m.context["category"] for m in plan.messages} == {"等候时间"}
    director = limit("warning", limit="director_decision", category="medical_quality")
    (warning,) = policy.plan_time_limit(director, "e1", NOW, RULES).messages
    assert warning.context["limit"] == "院领导批示"
    assert warning.context["category"] == "医疗质量"


def test_a_complainant_without_a_patient_id_is_acknowledged_at_their_phone_under_the_case() -> None:
    relative = CasePatient(phone="13800138000")
    plan = policy.plan_case_changed(
        "complaint.case_opened", case("received", patient=relative), NOW, RULES
    )
    ack = plan.messages[0]
    assert (ack.template, ack.patient_id) == ("complaint_acknowledgement", "case:TS-20261123-0001")
