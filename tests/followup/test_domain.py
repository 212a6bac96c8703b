"""Call outcomes: retries, unreachable, satisfaction, second calls, objections, spot checks."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from followup.domain import (
    CallOutcome,
    Completed,
    OptedOut,
    OutcomeFieldRejected,
    RetryPlanned,
    Task,
    TaskRejected,
    Unreachable,
    check_reassignable,
    decide_outcome,
    withdrawal_reason,
    worklist_bucket,
)
from followup.policy import DepartmentPolicy, WorkingHours, is_sampled
from hospital_shared.service_events.followup import Satisfaction

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=SH)  # a Monday
POLICY = DepartmentPolicy()
HOURS = WorkingHours.of(POLICY, SH)

TASK = Task(
    task_id="FU-A1", kind="inpatient_discharge", status="assigned", patient_id="P1",
    patient_name="张三", patient_phone="13800138000", sms_opt_out=False, department_code="CARD",
    department_name="心内科", source_event_id="e1", source_ref="A1", assignee_id="S-DOC-01",
    attempts_made=0, max_attempts=3, survey_invitation=True,
)  # fmt: skip


def decide(task: Task, outcome: CallOutcome, policy: DepartmentPolicy = POLICY):  # type: ignore[no-untyped-def]
    return decide_outcome(task, outcome, policy=policy, hours=HOURS, now=NOW)


def test_an_unanswered_call_is_retried_after_the_policy_spacing_in_working_hours() -> None:
    first = decide(TASK, CallOutcome(reached=False))
    assert first == RetryPlanned(1, NOW + timedelta(hours=4), NOW.replace(hour=17, minute=30))
    second = decide(replace(TASK, attempts_made=1), CallOutcome(reached=False))
    assert isinstance(second, RetryPlanned)
    assert second.attempts_made == 2
    assert second.not_before == NOW + timedelta(hours=24)


def test_a_late_retry_moves_to_the_next_working_morning() -> None:
    late = decide_outcome(
        TASK, CallOutcome(reached=False), policy=POLICY, hours=HOURS, now=NOW.replace(hour=16)
    )
    assert isinstance(late, RetryPlanned)
    assert late.not_before == NOW.replace(hour=8, minute=30) + timedelta(days=1)


def test_the_third_failed_attempt_makes_the_task_unreachable() -> None:
    assert decide(replace(TASK, attempts_made=2), CallOutcome(reached=False)) == Unreachable(3)


def test_the_number_of_attempts_is_the_tasks_own() -> None:
    assert decide(replace(TASK, max_attempts=1), CallOutcome(reached=False)) == Unreachable(1)


def test_a_satisfied_patient_closes_the_task_without_a_second_call() -> None:
    d = decide(TASK, CallOutcome(reached=True, satisfaction=Satisfaction.SATISFIED, score=5))
    assert isinstance(d, Completed)
    assert d.attempts_made == 1 and d.second_call is None and not d.complaint


def test_a_dissatisfied_patient_gets_a_second_call_by_a_supervisor() -> None:
    d = decide(TASK, CallOutcome(reached=True, satisfaction=Satisfaction.DISSATISFIED, score=2))
    assert isinstance(d, Completed) and d.second_call is not None
    second = d.second_call
    assert second.task_id == "FU-A1-2" and second.kind == "second_call"
    assert second.roles == ("supervisor",) and second.parent_task_id == "FU-A1"
    assert second.rule == "outcome.dissatisfied"
    assert second.due_at == NOW + timedelta(days=1)
    assert not d.complaint
    assert d.spot_check is None  # the supervisor is calling anyway


def test_an_objection_creates_a_second_call_and_a_complaint() -> None:
    d = decide(
        TASK,
        CallOutcome(reached=True, satisfaction=Satisfaction.FAIRLY_SATISFIED, objection="收费有误"),
    )
    assert isinstance(d, Completed)
    assert d.complaint
    assert d.second_call is not None and d.second_call.rule == "outcome.objection"


def test_a_second_call_never_begets_another_but_an_objection_still_is_a_complaint() -> None:
    second = replace(TASK, task_id="FU-A1-2", kind="second_call")
    d = decide(
        second, CallOutcome(reached=True, satisfaction=Satisfaction.DISSATISFIED, objection="x")
    )
    assert isinstance(d, Completed) and d.second_call is None and d.complaint


def test_a_blank_objection_is_no_objection() -> None:
    d = decide(TASK, CallOutcome(reached=True, satisfaction=Satisfaction.SATISFIED, objection="  "))
    assert isinstance(d, Completed) and not d.complaint and d.second_call is None


def test_spot_checks_sample_completed_calls_at_the_policy_rate() -> None:
    ids = [f"FU-A{i}" for i in range(4000)]
    checked = []
    for task_id in ids:
        d = decide(replace(TASK, task_id=task_id), CallOutcome(True, Satisfaction.SATISFIED))
        assert isinstance(d, Completed)
        if d.spot_check is not None:
            assert d.spot_check.kind == "spot_check" and d.spot_check.roles == ("supervisor",)
            assert d.spot_check.task_id == f"{task_id}-SC"
            checked.append(task_id)
    assert checked == [t for t in ids if is_sampled(f"{t}:spot-check", 0.10)]
    assert 0.08 < len(checked) / len(ids) < 0.12


def test_spot_checks_can_be_switched_off_and_never_sample_bereavement_calls() -> None:
    off = DepartmentPolicy(spot_check_rate=0.0)
    always = DepartmentPolicy(spot_check_rate=1.0)
    d = decide(TASK, CallOutcome(True, Satisfaction.SATISFIED), off)
    assert isinstance(d, Completed) and d.spot_check is None
    bereavement = replace(TASK, kind="bereavement_call")
    d = decide(bereavement, CallOutcome(True, Satisfaction.DISSATISFIED), always)
    assert isinstance(d, Completed) and d.spot_check is None and d.second_call is None


@pytest.mark.parametrize("status", ["completed", "unreachable", "withdrawn"])
def test_a_closed_task_takes_no_outcome(status: str) -> None:
    with pytest.raises(TaskRejected) as err:
        decide(replace(TASK, status=status), CallOutcome(reached=False))
    assert err.value.conflict


def test_an_unreached_call_cannot_carry_a_satisfaction() -> None:
    with pytest.raises(TaskRejected):
        CallOutcome(reached=False, satisfaction=Satisfaction.SATISFIED)
    with pytest.raises(TaskRejected):
        CallOutcome(reached=True, score=6)


def test_reassignment_needs_an_open_task_and_an_eligible_role() -> None:
    check_reassignable(TASK, to_role="agent", roles=("agent", "doctor"))
    with pytest.raises(TaskRejected):
        check_reassignable(TASK, to_role="agent", roles=("supervisor",))
    with pytest.raises(TaskRejected):
        check_reassignable(replace(TASK, status="completed"), to_role="doctor", roles=("doctor",))


def test_withdrawal_reasons() -> None:
    assert withdrawal_reason("registration.no_show") == "visit_no_show"
    assert withdrawal_reason("discharge.cancelled") == "discharge_cancelled"


def test_worklist_buckets_follow_the_hospital_day() -> None:
    def bucket(not_before: datetime, due_at: datetime) -> str:
        return worklist_bucket(not_before=not_before, due_at=due_at, now=NOW, tz=SH)

    assert bucket(NOW - timedelta(days=2), NOW - timedelta(hours=1)) == "overdue"
    assert bucket(NOW + timedelta(hours=5), NOW + timedelta(days=2)) == "due_today"
    assert bucket(NOW + timedelta(days=1), NOW + timedelta(days=2)) == "upcoming"


def test_a_task_callable_since_an_earlier_day_and_not_yet_due_sits_in_due_today() -> None:
    """A retry planned for yesterday afternoon, due tomorrow, is still today's work."""
    since_yesterday = worklist_bucket(
        not_before=NOW - timedelta(days=1), due_at=NOW + timedelta(days=1), now=NOW, tz=SH
    )
    assert since_yesterday == "due_today"


@pytest.mark.parametrize("score", [1, 5])
def test_the_score_scale_runs_from_one_to_five_both_ends_included(score: int) -> None:
    assert CallOutcome(reached=True, score=score).score == score


@pytest.mark.parametrize("score", [0, 6])
def test_a_score_off_the_scale_is_bad_input_not_a_conflict(score: int) -> None:
    """Refused as the request's fault (422 naming the rule), not as the task's state (409)."""
    with pytest.raises(TaskRejected, match="between 1 and 5") as err:
        CallOutcome(reached=True, score=score)
    assert not err.value.conflict


def test_an_unreached_call_with_a_score_is_bad_input_not_a_conflict() -> None:
    with pytest.raises(TaskRejected, match="reached someone") as err:
        CallOutcome(reached=False, score=3)
    assert not err.value.conflict


def test_a_reached_patient_who_gives_no_rating_gets_no_second_call() -> None:
    """Only a dissatisfied answer or an objection leads to a second call; a patient who would
    not rate the visit has said neither."""
    d = decide(TASK, CallOutcome(reached=True))
    assert isinstance(d, Completed) and d.second_call is None and not d.complaint


def test_a_task_due_this_very_minute_is_due_today_not_overdue() -> None:
    bucket = worklist_bucket(not_before=NOW - timedelta(hours=2), due_at=NOW, now=NOW, tz=SH)
    assert bucket == "due_today"


def test_a_call_is_never_retried_beyond_the_tasks_limit() -> None:
    """A task whose attempts already reached its limit (a limit lowered after two calls, or an
    outcome recorded twice) is unreachable on the next failed call, not retried a fourth time."""
    worn_out = replace(TASK, attempts_made=3, max_attempts=3)
    assert decide(worn_out, CallOutcome(reached=False)) == Unreachable(4)
    lowered = replace(TASK, attempts_made=2, max_attempts=1)
    assert decide(lowered, CallOutcome(reached=False)) == Unreachable(3)


def test_a_supervisors_follow_up_call_never_sends_the_sms_survey_again() -> None:
    """The patient was invited after the first call; a second call is no new invitation."""
    d = decide(TASK, CallOutcome(reached=True, satisfaction=Satisfaction.DISSATISFIED))
    assert isinstance(d, Completed) and d.second_call is not None
    assert TASK.survey_invitation and not d.second_call.survey_invitation


def test_reassigning_to_a_role_that_may_not_call_is_bad_input_not_a_conflict() -> None:
    with pytest.raises(TaskRejected, match="may not make") as err:
        check_reassignable(TASK, to_role="agent", roles=("supervisor",))
    assert not err.value.conflict


def test_a_requested_callback_opens_the_next_attempt_at_that_time() -> None:
    at = NOW.replace(hour=15)
    d = decide(
        TASK, CallOutcome(reached=False, not_reached_reason="callback_requested", callback_at=at)
    )
    assert d == RetryPlanned(1, at, NOW.replace(hour=17, minute=30))


def test_a_callback_after_the_last_attempt_is_still_planned_not_given_up() -> None:
    at = NOW + timedelta(days=1)
    outcome = CallOutcome(reached=False, not_reached_reason="callback_requested", callback_at=at)
    d = decide(replace(TASK, attempts_made=2), outcome)
    assert isinstance(d, RetryPlanned) and d.attempts_made == 3 and d.not_before == at


def test_a_callback_in_the_past_is_refused() -> None:
    outcome = CallOutcome(
        reached=False, not_reached_reason="callback_requested", callback_at=NOW - timedelta(hours=1)
    )
    with pytest.raises(TaskRejected, match="callback_at must be in the future"):
        decide(TASK, outcome)


def test_an_objection_repeated_on_the_second_call_it_led_to_opens_no_second_case() -> None:
    second = replace(TASK, task_id="FU-A1-2", kind="second_call", parent_task_id="FU-A1")
    objection = CallOutcome(
        reached=True, satisfaction=Satisfaction.DISSATISFIED, objection="仍未退费"
    )
    assert decide(second, objection) == Completed(1, None, None, complaint=True)
    repeated = decide(replace(second, follows_objection=True), objection)
    assert repeated == Completed(1, None, None, complaint=False)


def test_an_opt_out_on_a_call_that_reached_no_one_ends_it_without_retry_or_survey() -> None:
    for attempts_made in (0, 2):  # a first attempt, and the last
        task = replace(TASK, attempts_made=attempts_made)
        d = decide(task, CallOutcome(reached=False, opt_out=True, not_reached_reason="busy"))
        assert d == OptedOut(attempts_made + 1)


def test_a_callback_further_ahead_than_the_policy_allows_is_refused_naming_the_field() -> None:
    """A mistyped year (2099) took the call off every worklist for good."""
    asked = {"reached": False, "not_reached_reason": "callback_requested"}
    short = replace(POLICY, callback_max_days=30)
    d = decide(TASK, CallOutcome(**asked, callback_at=NOW + timedelta(days=29)), short)
    assert isinstance(d, RetryPlanned)
    for at in (NOW + timedelta(days=31), NOW.replace(year=2099)):
        with pytest.raises(OutcomeFieldRejected, match="at most 30 days ahead") as err:
            decide(TASK, CallOutcome(**asked, callback_at=at), short)
        assert err.value.field == "callback_at" and not err.value.conflict


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"reached": True, "not_reached_reason": "busy"}, "reached no one"),
        ({"reached": False, "not_reached_reason": "asleep"}, "must be one of"),
        ({"reached": False, "not_reached_reason": "busy", "callback_at": NOW}, "callback_at goes"),
        ({"reached": False, "not_reached_reason": "callback_requested"}, "callback_at goes"),
    ],
)
def test_a_not_reached_reason_and_callback_must_fit_together(fields, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TaskRejected, match=message):
        CallOutcome(**fields)


def test_a_plain_unanswered_call_keeps_its_reason_and_the_usual_spacing() -> None:
    d = decide(TASK, CallOutcome(reached=False, not_reached_reason="no_answer"))
    assert d == RetryPlanned(1, NOW + timedelta(hours=4), NOW.replace(hour=17, minute=30))
