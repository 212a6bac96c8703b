"""The next call plan (制定下次回访计划): a call that reached the patient may plan later calls,
for example a chronic patient's at 30 and 90 days, each with its own reason and questions (or
a script key). Pure: the outcome route passes the task, the policy and the clock.

The planning rules of the first call hold here too: no call to a patient who opted out (asked
now, or earlier with the department's `sms_opt_out_means_no_calls`), none from a bereavement
call (the patient died), and each call's window falls in working hours on working days of the
official calendar, from the planned day on, due `next_call_due_days` later. A planned call's
id is its parent's and its day (`FU-A1-N20270115`), so recording the same plan again, or a
retry after a lost answer, plans nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from followup.domain import Task, derived_call
from followup.planning import PlannedCall
from followup.policy import DepartmentPolicy, WorkingHours
from hospital_shared.vocabulary import TaskKind

NEXT_CALL_KIND = TaskKind.NEXT_CALL
NEXT_CALL_RULE = "outcome.next_call"
MAX_DAYS_AHEAD = 730  # follow-up registers are kept two years
NO_NEXT_CALL_KINDS = frozenset({"bereavement_call"})  # the patient died


class NextCallRefused(ValueError):
    """A requested next call that cannot be planned as asked (HTTP 422, naming `field`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class NextCallRequest:
    """One later call as staff ask for it: in `after_days` days or on the day `on`."""

    reason: str
    after_days: int | None = None
    on: date | None = None
    questions: tuple[str, ...] = ()
    script_key: str | None = None


@dataclass(frozen=True)
class NextCall:
    """A planned later call and what it is to ask."""

    call: PlannedCall
    reason: str
    questions: tuple[str, ...]
    script_key: str | None


@dataclass(frozen=True)
class NextCallPlan:
    calls: tuple[NextCall, ...] = ()
    not_planned: str | None = None  # the rule that planned none of them, when one did


def call_day(request: NextCallRequest, *, today: date, index: int) -> date:
    """The day the call is planned for, checked: after today, within two years."""
    where = f"next_calls[{index}]"
    if (request.after_days is None) == (request.on is None):
        raise NextCallRefused(where, "give either after_days or on")
    day = request.on if request.on is not None else today + timedelta(days=request.after_days or 0)
    if day <= today:
        raise NextCallRefused(where, "a next call is planned after today")
    if day > today + timedelta(days=MAX_DAYS_AHEAD):
        raise NextCallRefused(where, f"a next call is planned within {MAX_DAYS_AHEAD} days")
    return day


def next_call_days(requests: Sequence[NextCallRequest], *, today: date) -> list[date]:
    days = [call_day(r, today=today, index=i) for i, r in enumerate(requests)]
    for i, day in enumerate(days):
        if day in days[:i]:
            raise NextCallRefused(f"next_calls[{i}]", f"another next call is on {day}")
    return days


def _planned(
    task: Task, day: date, *, roles: tuple[str, ...], policy: DepartmentPolicy, hours: WorkingHours
) -> PlannedCall:
    return derived_call(
        task, kind=NEXT_CALL_KIND, suffix=f"N{day:%Y%m%d}", rule=NEXT_CALL_RULE,
        due_in=timedelta(days=policy.next_call_due_days), policy=policy, hours=hours,
        now=datetime.combine(day, time(0), hours.tz), roles=roles,
        # (kind, source_event_id) is unique per task: one next call a day from a task.
        source_event_id=f"task:{task.task_id}:{day:%Y%m%d}",
    )  # fmt: skip


def plan_next_calls(
    task: Task,
    requests: Sequence[NextCallRequest],
    *,
    roles: tuple[str, ...],
    reached: bool,
    opt_out: bool,
    policy: DepartmentPolicy,
    hours: WorkingHours,
    now: datetime,
) -> NextCallPlan:
    """The later calls `requests` ask for, or why none is planned (`not_planned`). Requests
    that cannot be planned as asked raise `NextCallRefused`, whatever the rules say."""
    if not requests:
        return NextCallPlan()
    if not reached:
        raise NextCallRefused(
            "next_calls", "a next call is planned from a call that reached someone"
        )
    days = next_call_days(requests, today=now.astimezone(hours.tz).date())
    if task.kind in NO_NEXT_CALL_KINDS:
        return NextCallPlan(not_planned="inpatient.deceased.no_call")
    if opt_out or (task.sms_opt_out and policy.sms_opt_out_means_no_calls):
        return NextCallPlan(not_planned="patient.opted_out")
    return NextCallPlan(
        tuple(
            NextCall(_planned(task, day, roles=roles, policy=policy, hours=hours),
                     r.reason.strip(), r.questions, r.script_key)
            for r, day in zip(requests, days, strict=True)
        )
    )  # fmt: skip
