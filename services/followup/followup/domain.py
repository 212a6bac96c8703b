"""A follow-up task's life after planning: call outcomes, retries when the patient cannot be
reached, the targeted second call (二次回访), the supervisor's spot check, and objections
handed over as complaints. Pure: the repository loads a `Task`, this decides, the handler or
route saves and publishes.

Statuses: planned (not assigned yet) -> assigned -> completed | unreachable | withdrawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from followup.planning import PlannedCall
from followup.policy import SUPERVISOR, DepartmentPolicy, WorkingHours, call_window, is_sampled
from hospital_shared.service_events.followup import Satisfaction
from hospital_shared.service_events.surveys import SurveyAnswer
from hospital_shared.vocabulary import OPEN_TASK_STATUSES, TaskKind, TaskStatus

OPEN: tuple[TaskStatus, ...] = OPEN_TASK_STATUSES
STATUSES: tuple[TaskStatus, ...] = tuple(TaskStatus)

# Kinds whose completed calls a supervisor may spot-check, and kinds that may lead to a
# second call. A second call never begets another one; a bereavement call is never sampled.
SPOT_CHECKED_KINDS = frozenset(
    {TaskKind.INPATIENT_DISCHARGE, TaskKind.OUTPATIENT_VISIT, TaskKind.TRANSFER_CHECK}
)
SECOND_CALL_KINDS = SPOT_CHECKED_KINDS | {TaskKind.SPOT_CHECK}


class TaskRejected(ValueError):
    """The request does not fit the task's state (HTTP 409 / 422)."""

    def __init__(self, message: str, *, conflict: bool = True) -> None:
        super().__init__(message)
        self.conflict = conflict


class OutcomeFieldRejected(TaskRejected):
    """A field of the outcome that the task's policy refuses (HTTP 422 naming `field`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}", conflict=False)
        self.field = field


class AttemptNotNext(TaskRejected):
    """The caller records an attempt that is not the task's next one: the same outcome sent
    twice (a double click, a browser's retry) or a screen older than another's outcome. One
    dial must count once, or a patient is given up as unreachable after one real call."""

    def __init__(self, task_id: str, *, attempt: int, attempts_made: int) -> None:
        super().__init__(
            f"task {task_id} has {attempts_made} attempts recorded: attempt {attempt} is not"
            f" the next one ({attempts_made + 1})"
        )
        self.attempts_made = attempts_made


class LifeNotCurrent(TaskRejected):
    """The caller records an outcome for a life of the task that has ended: their call screen
    was opened before the task was withdrawn and planned again (a discharge cancelled and
    entered again). The new life counts its attempts from 0 again, so the attempt alone
    passes; the call was about the old one and must not count, or close, the new one."""

    def __init__(self, task_id: str, *, generation: int, current: int) -> None:
        super().__init__(
            f"task {task_id} was withdrawn and planned again since the caller read generation"
            f" {generation}: it is generation {current} now; reload it"
        )
        self.generation = current


@dataclass(frozen=True)
class Task:
    task_id: str
    kind: str
    status: str
    patient_id: str
    patient_name: str | None
    patient_phone: str | None
    sms_opt_out: bool
    department_code: str
    department_name: str | None
    source_event_id: str
    source_ref: str
    assignee_id: str | None
    attempts_made: int
    max_attempts: int
    survey_invitation: bool
    parent_task_id: str | None = None
    # its life: 1, and one more each time it is planned again after a withdrawal
    generation: int = 1
    # a second call after a call whose objection was handed to complaints already: an objection
    # repeated on it is that case's, not a new one (`calls.record_outcome` reads it)
    follows_objection: bool = False


# Why a call did not reach the patient (recorded with the attempt, shown on the call screen).
# `callback_requested`: someone answered and asked to be called at another time
# (`callback_at`), which then is when the next attempt's window opens.
NOT_REACHED_REASONS = ("no_answer", "busy", "switched_off", "wrong_number", "callback_requested")


@dataclass(frozen=True)
class CallOutcome:
    """What the caller records. `reached=False` is one failed attempt."""

    reached: bool
    satisfaction: Satisfaction | None = None
    score: int | None = None
    feedback: str | None = None
    objection: str | None = None
    opt_out: bool = False
    # answers per question of the kind's questionnaire (each with its aspect), as the
    # patient's survey page asks them; `satisfaction` stays the call's overall answer
    answers: tuple[SurveyAnswer, ...] = ()
    questionnaire_version: int | None = None
    not_reached_reason: str | None = None
    callback_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.score is not None and not 1 <= self.score <= 5:
            raise TaskRejected("score must be between 1 and 5", conflict=False)
        if not self.reached and (self.satisfaction or self.score or self.objection or self.answers):
            raise TaskRejected(
                "satisfaction, score, answers and objection need a call that reached someone",
                conflict=False,
            )
        if len({a.question_id for a in self.answers}) != len(self.answers):
            raise TaskRejected("answers: one answer per question", conflict=False)
        if self.answers and self.questionnaire_version is None:
            raise TaskRejected("answers need the questionnaire_version asked", conflict=False)
        self._check_not_reached()

    def _check_not_reached(self) -> None:
        reason = self.not_reached_reason
        if reason is not None and reason not in NOT_REACHED_REASONS:
            raise TaskRejected(
                f"not_reached_reason must be one of {list(NOT_REACHED_REASONS)}", conflict=False
            )
        if self.reached and (reason or self.callback_at):
            raise TaskRejected(
                "not_reached_reason and callback_at are for a call that reached no one",
                conflict=False,
            )
        if (reason == "callback_requested") != (self.callback_at is not None):
            raise TaskRejected(
                "callback_at goes with not_reached_reason callback_requested", conflict=False
            )

    @property
    def dissatisfied(self) -> bool:
        """不满意 overall or about any aspect: a targeted second call (二次回访) follows."""
        return self.satisfaction == Satisfaction.DISSATISFIED or any(
            a.satisfaction == Satisfaction.DISSATISFIED for a in self.answers
        )

    @property
    def objection_raised(self) -> bool:
        return bool(self.objection and self.objection.strip())


@dataclass(frozen=True)
class RetryPlanned:
    attempts_made: int
    not_before: datetime
    due_at: datetime


@dataclass(frozen=True)
class Unreachable:
    attempts_made: int


@dataclass(frozen=True)
class Completed:
    attempts_made: int
    second_call: PlannedCall | None
    spot_check: PlannedCall | None
    complaint: bool


@dataclass(frozen=True)
class OptedOut:
    """A call that reached no one whose answerer asked not to be called again: no retry, not
    unreachable (no SMS survey to a patient who just opted out); the opt-out withdraws it."""

    attempts_made: int


Decision = RetryPlanned | Unreachable | Completed | OptedOut


def decide_outcome(
    task: Task,
    outcome: CallOutcome,
    *,
    policy: DepartmentPolicy,
    hours: WorkingHours,
    now: datetime,
    attempt: int | None = None,
    generation: int | None = None,
) -> Decision:
    """What one call's outcome does to the task. `attempt` and `generation`, when the caller
    gives them, are the attempt they record and the life of the task they saw (its attempts
    made + 1, its generation); any other is refused."""
    check_recordable(task, attempt=attempt, generation=generation)
    attempts = task.attempts_made + 1
    if outcome.opt_out and not outcome.reached:
        return OptedOut(attempts)
    if outcome.callback_at is not None:
        return _callback(attempts, outcome.callback_at, policy=policy, hours=hours, now=now)
    if not outcome.reached:
        if attempts >= task.max_attempts:
            return Unreachable(attempts)
        window = call_window(hours, now + policy.retry_spacing(attempts), due_in=timedelta(hours=0))
        return RetryPlanned(attempts, window.not_before, window.due_at)
    second = None
    if task.kind in SECOND_CALL_KINDS and (outcome.dissatisfied or outcome.objection_raised):
        rule = "outcome.objection" if outcome.objection_raised else "outcome.dissatisfied"
        second = derived_call(
            task, kind=TaskKind.SECOND_CALL, suffix="2", rule=rule,
            due_in=timedelta(days=policy.second_call_due_days), policy=policy, hours=hours, now=now,
        )  # fmt: skip
    spot = None
    if (
        second is None
        and task.kind in SPOT_CHECKED_KINDS
        and is_sampled(f"{task.task_id}:spot-check", policy.spot_check_rate)
    ):
        spot = derived_call(
            task, kind=TaskKind.SPOT_CHECK, suffix="SC", rule=f"spot_check.sampled_{policy.spot_check_rate:.0%}",
            due_in=timedelta(days=policy.spot_check_due_days), policy=policy, hours=hours, now=now,
        )  # fmt: skip
    complaint = outcome.objection_raised and not task.follows_objection
    return Completed(attempts, second, spot, complaint=complaint)


def check_recordable(task: Task, *, attempt: int | None, generation: int | None) -> None:
    """An outcome is recorded on an open task, for the life and the attempt the caller saw.
    The life first: a screen of an ended life is refused for that even when its attempt
    number happens to be the new life's next one, or the new life is closed meanwhile."""
    if generation is not None and generation != task.generation:
        raise LifeNotCurrent(task.task_id, generation=generation, current=task.generation)
    if task.status not in OPEN:
        raise TaskRejected(f"task {task.task_id} is {task.status}; no outcome can be recorded")
    if attempt is not None and attempt != task.attempts_made + 1:
        raise AttemptNotNext(task.task_id, attempt=attempt, attempts_made=task.attempts_made)


def _callback(
    attempts: int, at: datetime, *, policy: DepartmentPolicy, hours: WorkingHours, now: datetime
) -> RetryPlanned:
    """The next attempt at the time the person asked for (its window from then on, in working
    hours), even after the last planned attempt: they asked to be called, so it is not given
    up as unreachable. Not further ahead than `callback_max_days`: a mistyped year (2099) took
    the call off every worklist, never overdue, for good."""
    if at <= now:
        raise OutcomeFieldRejected("callback_at", "must be in the future")
    if at > now + timedelta(days=policy.callback_max_days):
        raise OutcomeFieldRejected(
            "callback_at", f"must be at most {policy.callback_max_days:g} days ahead"
        )
    window = call_window(hours, at, due_in=timedelta(hours=0))
    return RetryPlanned(attempts, window.not_before, window.due_at)


def derived_call(
    task: Task,
    *,
    kind: str,
    suffix: str,
    rule: str,
    due_in: timedelta,
    policy: DepartmentPolicy,
    hours: WorkingHours,
    now: datetime,
    roles: tuple[str, ...] = SUPERVISOR,
    source_event_id: str | None = None,
) -> PlannedCall:
    """A call that follows `task`, its window from `now` on: a supervisor's second call or
    spot check, or a next call the outcome planned (`followup.next_calls`)."""
    window = call_window(hours, now, due_in=due_in)
    return PlannedCall(
        task_id=f"{task.task_id}-{suffix}",
        kind=kind,
        rule=rule,
        patient_id=task.patient_id,
        patient_name=task.patient_name,
        patient_phone=task.patient_phone,
        sms_opt_out=task.sms_opt_out,
        department_code=task.department_code,
        department_name=task.department_name,
        source_event_id=source_event_id or f"task:{task.task_id}",
        source_ref=task.source_ref,
        not_before=window.not_before,
        due_at=window.due_at,
        roles=roles,
        max_attempts=policy.max_call_attempts,
        survey_invitation=False,
        parent_task_id=task.task_id,
    )


def check_reassignable(task: Task, *, to_role: str, roles: tuple[str, ...]) -> None:
    if task.status not in OPEN:
        raise TaskRejected(f"task {task.task_id} is {task.status}; it cannot be reassigned")
    if to_role not in roles:
        raise TaskRejected(
            f"a {to_role} may not make a {task.kind} call (needs one of {list(roles)})",
            conflict=False,
        )


def withdrawal_reason(event_type: str) -> str:
    return {
        "registration.cancelled": "visit_cancelled",
        "registration.no_show": "visit_no_show",
        "discharge.cancelled": "discharge_cancelled",
    }[event_type]


def worklist_bucket(*, not_before: datetime, due_at: datetime, now: datetime, tz: ZoneInfo) -> str:
    """Where an open task sits in a worklist: `overdue`, `due_today` (callable today) or
    `upcoming`, by the hospital's local day."""
    if due_at < now:
        return "overdue"
    if not_before.astimezone(tz).date() <= now.astimezone(tz).date():
        return "due_today"
    return "upcoming"
