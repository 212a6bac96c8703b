"""Who gets which message, and which events must never produce a cheerful one."""

from datetime import datetime, timedelta
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
    (msg,) = policy.plan_unreachable(unreachable("inpatient_discharge"), "e1", NOW, RULES).messages
    assert msg.template == "followup_survey_invitation"


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
