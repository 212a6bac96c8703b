"""Which discharges and visits get a follow-up call, and when it is due."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from followup.planning import NotPlanned, PlannedCall, plan_discharge, plan_visit
from followup.policy import PolicyBook, is_sampled
from hospital_shared.events import PatientDischarged, RegistrationCreated

SH = ZoneInfo("Asia/Shanghai")
MONDAY_10H = datetime(2026, 11, 23, 10, 0, tzinfo=SH)
BOOK = PolicyBook.build({}, {})


def discharge(**over: Any) -> PatientDischarged:
    patient = {"patient_id": "P1", "name": "张三", "phone": "13800138000"}
    patient |= over.pop("patient", {})
    fields: dict[str, Any] = {
        "admission_id": "A1",
        "patient": patient,
        "department": {"code": "CARD", "name": "心内科"},
        "admitted_at": MONDAY_10H - timedelta(days=5),
        "discharged_at": MONDAY_10H,
        "disposition": "home",
        **over,
    }
    return PatientDischarged.model_validate(fields)


def visit(registration_id: str, visit_type: str = "first", **over: Any) -> RegistrationCreated:
    patient = {"patient_id": "P2", "name": "李四", "phone": "13900139000"}
    patient |= over.pop("patient", {})
    return RegistrationCreated.model_validate(
        {
            "registration_id": registration_id,
            "patient": patient,
            "department": {"code": "CARD", "name": "心内科"},
            "visit_type": visit_type,
            "channel": "online",
            "registered_at": MONDAY_10H,
            **over,
        }
    )


def test_every_home_discharge_gets_a_call_due_within_three_days() -> None:
    plan = plan_discharge(BOOK, SH, event_id="e1", discharge=discharge())
    assert isinstance(plan, PlannedCall)
    assert plan.task_id == "FU-A1"
    assert plan.kind == "inpatient_discharge"
    assert plan.rule == "inpatient.every_discharge"
    assert plan.source_event_id == "e1" and plan.source_ref == "A1"
    assert plan.not_before == MONDAY_10H
    assert plan.due_at == MONDAY_10H + timedelta(days=3)
    assert plan.max_attempts == 3 and plan.survey_invitation


def test_the_due_days_are_a_department_setting() -> None:
    book = PolicyBook.build({}, {"CARD": {"inpatient_due_days": 1}})
    plan = plan_discharge(book, SH, event_id="e1", discharge=discharge())
    assert isinstance(plan, PlannedCall)
    assert plan.due_at == MONDAY_10H + timedelta(days=1)


def test_a_deceased_patient_is_not_called() -> None:
    plan = plan_discharge(BOOK, SH, event_id="e1", discharge=discharge(disposition="deceased"))
    assert plan == NotPlanned("inpatient.deceased.no_call")


def test_a_hospital_may_choose_bereavement_calls_by_a_supervisor() -> None:
    book = PolicyBook.build({"deceased_handling": "bereavement_call"}, {})
    plan = plan_discharge(book, SH, event_id="e1", discharge=discharge(disposition="deceased"))
    assert isinstance(plan, PlannedCall)
    assert (plan.kind, plan.roles, plan.survey_invitation) == (
        "bereavement_call",
        ("supervisor",),
        False,
    )


def test_a_transfer_gets_a_doctors_handover_check() -> None:
    plan = plan_discharge(BOOK, SH, event_id="e1", discharge=discharge(disposition="transferred"))
    assert isinstance(plan, PlannedCall)
    assert plan.kind == "transfer_check" and plan.roles == ("doctor",)


def test_an_opted_out_patient_is_not_called() -> None:
    plan = plan_discharge(
        BOOK, SH, event_id="e1", discharge=discharge(patient={"sms_opt_out": True})
    )
    assert plan == NotPlanned("patient.opted_out")


def test_the_sms_opt_out_rule_can_be_switched_off() -> None:
    book = PolicyBook.build({"sms_opt_out_means_no_calls": False}, {})
    plan = plan_discharge(
        book, SH, event_id="e1", discharge=discharge(patient={"sms_opt_out": True})
    )
    assert isinstance(plan, PlannedCall) and plan.sms_opt_out


# The targets (60% first, 20% return) over the 85% of calls expected to reach the patient.
@pytest.mark.parametrize(("visit_type", "rate"), [("first", 0.6 / 0.85), ("return", 0.2 / 0.85)])
def test_outpatient_visits_are_sampled_by_a_hash_of_the_visit(visit_type: str, rate: float) -> None:
    ids = [f"R{i:06d}" for i in range(3000)]
    plans = [plan_visit(BOOK, SH, event_id=f"e{i}", registration=visit(i, visit_type)) for i in ids]
    planned = [p for p in plans if isinstance(p, PlannedCall)]
    assert {p.source_ref for p in planned} == {i for i in ids if is_sampled(i, rate)}
    assert abs(len(planned) / len(ids) - rate) < 0.03
    again = [plan_visit(BOOK, SH, event_id="other", registration=visit(i, visit_type)) for i in ids]
    assert [isinstance(p, PlannedCall) for p in again] == [
        isinstance(p, PlannedCall) for p in plans
    ]
    skipped = [p for p in plans if isinstance(p, NotPlanned)]
    assert skipped[0].rule == f"outpatient.{visit_type}_visit.not_sampled"


def test_a_sampled_visit_is_called_after_the_visit_within_the_due_days() -> None:
    rid = next(f"R{i}" for i in range(100) if is_sampled(f"R{i}", 0.6 / 0.85))
    appointment = MONDAY_10H + timedelta(days=1)
    plan = plan_visit(BOOK, SH, event_id="e", registration=visit(rid, appointment_at=appointment))
    assert isinstance(plan, PlannedCall)
    assert plan.task_id == f"FU-OP-{rid}"
    assert plan.kind == "outpatient_visit"
    assert plan.rule == "outpatient.first_visit.sampled_71%"
    assert plan.not_before == appointment + timedelta(days=1)
    assert plan.due_at == appointment + timedelta(days=3)
    assert plan.survey_invitation  # unreachable, the patient is invited to an SMS survey


def test_a_department_can_call_every_first_visit() -> None:
    book = PolicyBook.build({}, {"PED": {"outpatient_first_visit_rate": 1.0}})
    plans = [
        plan_visit(
            book,
            SH,
            event_id="e",
            registration=visit(f"R{i}", department={"code": "PED", "name": "儿科"}),
        )
        for i in range(50)
    ]
    assert all(isinstance(p, PlannedCall) for p in plans)


def test_an_opted_out_outpatient_is_not_called_after_a_sampled_visit() -> None:
    """The opt-out holds for outpatient visits too, not only for discharges."""
    book = PolicyBook.build({"outpatient_first_visit_rate": 1.0}, {})
    opted = visit("R-OPT", patient={"sms_opt_out": True})
    assert plan_visit(book, SH, event_id="e", registration=opted) == NotPlanned("patient.opted_out")
    switched_off = PolicyBook.build(
        {"outpatient_first_visit_rate": 1.0, "sms_opt_out_means_no_calls": False}, {}
    )
    plan = plan_visit(switched_off, SH, event_id="e", registration=opted)
    assert isinstance(plan, PlannedCall) and plan.sms_opt_out


def test_a_call_delay_holds_the_discharge_call_back_but_not_its_due_time() -> None:
    """`call_delay_hours`: the patient gets home first; the call is still due within the
    department's days after the discharge."""
    book = PolicyBook.build({}, {"CARD": {"call_delay_hours": 20}})
    plan = plan_discharge(book, SH, event_id="e1", discharge=discharge())
    assert isinstance(plan, PlannedCall)
    assert plan.not_before == datetime(2026, 11, 24, 8, 30, tzinfo=SH)  # Mon 10:00 + 20 h = 06:00
    assert plan.due_at == MONDAY_10H + timedelta(days=3)


def test_a_call_delay_holds_the_outpatient_call_back_too() -> None:
    book = PolicyBook.build({"outpatient_first_visit_rate": 1.0, "call_delay_hours": 5}, {})
    plan = plan_visit(book, SH, event_id="e", registration=visit("R-DELAY"))
    assert isinstance(plan, PlannedCall)
    assert plan.not_before == MONDAY_10H + timedelta(days=1, hours=5)
    assert plan.due_at == MONDAY_10H + timedelta(days=3)


def test_two_hundred_first_visits_with_a_few_unreached_calls_still_meet_the_60_percent_target() -> (
    None
):
    """The issue's measurement: sampling exactly 60% planned 118 calls for 200 first visits, so
    even with every call reached the rate was 59%. Sampled above the target, 200 first visits
    with the first 8 planned calls unreached still reach at least 120 patients (60%)."""
    ids = [f"R-FIRST-{i:03d}" for i in range(200)]
    plans = [plan_visit(BOOK, SH, event_id=f"e{i}", registration=visit(i)) for i in ids]
    planned = [p for p in plans if isinstance(p, PlannedCall)]
    reached = len(planned) - 8
    assert reached / len(ids) >= 0.60, (len(planned), reached)
    exactly_the_target = PolicyBook.build({"expected_unreached_share": 0.0}, {})
    old = [plan_visit(exactly_the_target, SH, event_id="e", registration=visit(i)) for i in ids]
    assert sum(isinstance(p, PlannedCall) for p in old) - 8 < 120  # what the issue measured
