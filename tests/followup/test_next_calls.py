"""The next call plan (制定下次回访计划): later calls an outcome plans, by the planning rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import pytest

from followup.domain import Task
from followup.next_calls import (
    NEXT_CALL_KIND,
    NEXT_CALL_RULE,
    NextCallPlan,
    NextCallRefused,
    NextCallRequest,
    plan_next_calls,
)
from followup.policy import AGENT_OR_DOCTOR, WorkingHours
from hospital_shared.calendar_store import bundled_schedules
from hospital_shared.working_calendar import WorkingCalendar
from tests.followup.test_domain import NOW, POLICY, SH, TASK  # NOW: Mon 2026-11-23 10:00

# The bundled years up to 2026 only, so that these dates stay right once 2027 is added.
UP_TO_2026 = WorkingCalendar.of(s for s in bundled_schedules() if s.year <= 2026)
HOURS = replace(WorkingHours.of(POLICY, SH), is_workday=UP_TO_2026.is_workday)
PARENT = TASK  # FU-A1, an inpatient discharge call in CARD
CHRONIC = (
    NextCallRequest("慢病随访", after_days=30, questions=("血压控制如何？", "是否按时服药？")),
    NextCallRequest("慢病复查", after_days=90, script_key="chronic-90"),
)


def plan(*requests: NextCallRequest, parent: Task = PARENT, **kw: object) -> NextCallPlan:
    options: dict[str, object] = {
        "reached": True, "opt_out": False, "policy": POLICY, "roles": AGENT_OR_DOCTOR,
    }  # fmt: skip
    options.update(kw)
    return plan_next_calls(parent, requests, hours=HOURS, now=NOW, **options)  # type: ignore[arg-type]


def local(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


def test_a_chronic_patient_gets_calls_at_30_and_90_days_with_their_own_questions() -> None:
    thirty, ninety = plan(*CHRONIC).calls
    # 30 days: Wed 2026-12-23; 90 days: Sun 2027-02-21 -> Mon 2-22 (Monday to Friday here).
    assert (thirty.call.not_before, thirty.call.due_at) == (
        local(2026, 12, 23, 8, 30), local(2026, 12, 25, 17, 30),
    )  # fmt: skip
    assert ninety.call.not_before == local(2027, 2, 22, 8, 30)
    assert (thirty.call.task_id, ninety.call.task_id) == ("FU-A1-N20261223", "FU-A1-N20270221")
    assert thirty.reason == "慢病随访" and thirty.questions == ("血压控制如何？", "是否按时服药？")
    assert (ninety.questions, ninety.script_key) == ((), "chronic-90")
    call = thirty.call
    assert (call.kind, call.rule, call.parent_task_id) == (NEXT_CALL_KIND, NEXT_CALL_RULE, "FU-A1")
    assert (call.patient_id, call.patient_name, call.patient_phone) == ("P1", "张三", "13800138000")
    assert (call.department_code, call.department_name, call.source_ref) == ("CARD", "心内科", "A1")
    assert (call.roles, call.max_attempts, call.survey_invitation) == (AGENT_OR_DOCTOR, 3, False)
    assert call.source_event_id == "task:FU-A1:20261223" and not call.sms_opt_out
    assert plan(*CHRONIC).not_planned is None


def test_a_call_on_a_day_off_waits_for_the_next_working_day() -> None:
    [national_day] = plan(NextCallRequest("复查", on=date(2027, 10, 1))).calls
    assert national_day.call.not_before == local(2027, 10, 1, 8, 30)  # 2027: weekdays here
    [holiday] = plan(
        NextCallRequest("复查", on=date(2026, 12, 26)), parent=PARENT
    ).calls  # a Saturday
    assert holiday.call.not_before == local(2026, 12, 28, 8, 30)


def test_the_due_time_follows_the_department_policy() -> None:
    policy = replace(POLICY, next_call_due_days=1.0, max_call_attempts=5)
    [call] = plan(NextCallRequest("复查", after_days=2), policy=policy).calls
    assert (call.call.not_before, call.call.due_at) == (
        local(2026, 11, 25, 8, 30), local(2026, 11, 25, 17, 30),
    )  # fmt: skip
    assert call.call.max_attempts == 5


def test_the_reason_is_kept_without_surrounding_blanks() -> None:
    assert plan(NextCallRequest("  复查  ", after_days=2)).calls[0].reason == "复查"


def test_no_request_plans_nothing_even_from_a_call_that_reached_nobody() -> None:
    assert plan(reached=False) == NextCallPlan()


@pytest.mark.parametrize(
    ("requests", "field", "message"),
    [
        ((NextCallRequest("x"),), "next_calls[0]", "either after_days or on"),
        ((NextCallRequest("x", after_days=3, on=date(2027, 1, 5)),), "next_calls[0]", "either"),
        ((NextCallRequest("x", on=date(2026, 11, 23)),), "next_calls[0]", "after today"),
        ((NextCallRequest("x", after_days=0),), "next_calls[0]", "after today"),
        ((NextCallRequest("x", after_days=731),), "next_calls[0]", "within 730 days"),
        ((NextCallRequest("x", on=date(2028, 11, 23)),), "next_calls[0]", "within 730 days"),
        (
            (NextCallRequest("x", after_days=3), NextCallRequest("y", on=date(2026, 11, 26))),
            "next_calls[1]",
            "another next call is on 2026-11-26",
        ),
    ],
)
def test_a_plan_that_cannot_be_kept_is_refused_naming_the_call(
    requests: tuple[NextCallRequest, ...], field: str, message: str
) -> None:
    with pytest.raises(NextCallRefused) as caught:
        plan(*requests)
    assert caught.value.field == field and message in str(caught.value)


def test_the_last_allowed_day_and_tomorrow_are_accepted() -> None:
    assert plan(NextCallRequest("x", after_days=730)).calls[0].call.task_id == "FU-A1-N20281122"
    assert plan(NextCallRequest("x", on=date(2026, 11, 24))).calls[0].call.task_id == (
        "FU-A1-N20261124"
    )


def test_a_call_that_reached_nobody_cannot_plan_one() -> None:
    with pytest.raises(NextCallRefused, match="reached someone") as caught:
        plan(*CHRONIC, reached=False)
    assert caught.value.field == "next_calls"


def test_a_patient_who_opts_out_now_gets_no_next_call() -> None:
    assert plan(*CHRONIC, opt_out=True) == NextCallPlan(not_planned="patient.opted_out")


def test_an_earlier_sms_opt_out_stops_next_calls_where_the_department_says_so() -> None:
    opted = replace(PARENT, sms_opt_out=True)
    assert plan(*CHRONIC, parent=opted).not_planned == "patient.opted_out"
    calls = plan(*CHRONIC, parent=opted, policy=replace(POLICY, sms_opt_out_means_no_calls=False))
    assert len(calls.calls) == 2 and calls.calls[0].call.sms_opt_out


def test_a_bereavement_call_plans_no_call_to_the_deceased() -> None:
    bereavement = replace(PARENT, kind="bereavement_call")
    assert plan(*CHRONIC, parent=bereavement) == NextCallPlan(
        not_planned="inpatient.deceased.no_call"
    )


def test_a_wrong_request_is_refused_even_when_no_call_would_be_planned() -> None:
    with pytest.raises(NextCallRefused):
        plan(NextCallRequest("x"), opt_out=True)


def test_the_same_plan_gives_the_same_task_ids() -> None:
    """Recording the plan again (a retry) names the same tasks, which exist: nothing twice."""
    assert [c.call for c in plan(*CHRONIC).calls] == [c.call for c in plan(*CHRONIC).calls]


def test_a_day_in_the_past_is_refused_like_today() -> None:
    """`on` before today is refused as today is ('<=', not only '==')."""
    for day in (date(2026, 11, 22), date(2025, 1, 1)):
        with pytest.raises(NextCallRefused, match="after today"):
            plan(NextCallRequest("复查", on=day))


def test_a_next_call_opens_at_the_start_of_its_day_when_calls_start_at_midnight() -> None:
    """The call's day starts at 00:00: a department calling round the clock may call then."""
    policy = replace(POLICY, working_hours_start="00:00", working_hours_end="23:59")
    hours = replace(WorkingHours.of(policy, SH), is_workday=UP_TO_2026.is_workday)
    [call] = plan_next_calls(
        PARENT, [NextCallRequest("复查", on=date(2026, 12, 23))], roles=AGENT_OR_DOCTOR,
        reached=True, opt_out=False, policy=policy, hours=hours, now=NOW,
    ).calls  # fmt: skip
    assert call.call.not_before == local(2026, 12, 23, 0, 0)
