"""Counting the services' lifecycle events: follow-up tasks (followup.tasks.v1), complaint
cases (complaints.cases.v1) and patient SMS (notifications.messages.v1).

Labels come from the event itself (every task event carries its kind and department, every
case event its category, channel and department), so counting needs no lookup and an event
that overtakes another still counts right.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from hospital_shared.events import ComplaintChannel
from hospital_shared.service_events.complaints import (
    CASE_EVENT_TYPES,
    PROCEDURE_EVENT_TYPES,
    ComplaintCaseChanged,
    ComplaintSatisfactionRecorded,
    ComplaintTimeLimitReached,
)
from hospital_shared.service_events.followup import (
    FollowUpCallRetryScheduled,
    FollowUpTaskAssigned,
    FollowUpTaskCompleted,
    FollowUpTaskDue,
    FollowUpTaskOverdue,
    FollowUpTaskPlanned,
    FollowUpTaskTransferred,
    FollowUpTaskUnreachable,
    FollowUpTaskWithdrawn,
)
from hospital_shared.service_events.notifications import SMS_EVENT_TYPES, SmsStatusChanged
from hospital_shared.vocabulary import CLOCKED_CASE_LIMITS, CaseLimit, EventName, SurveyChannel
from metrics import catalog, procedure, surveys
from metrics import repository as repo
from metrics.domain import label, rating
from metrics.received import BulkHandler, Handler, Received, in_waves

COMPLAINT_CHANNELS = frozenset(c.value for c in ComplaintChannel)
LIMITS = frozenset(limit.value for limit in CaseLimit if limit is not CaseLimit.DIRECTOR_DECISION)


# --- followup.tasks.v1 ---------------------------------------------------------------

# Every task event: each carries the task's id, kind and department.
TaskEvent = (
    FollowUpTaskPlanned | FollowUpTaskAssigned | FollowUpTaskDue | FollowUpTaskOverdue
    | FollowUpCallRetryScheduled | FollowUpTaskUnreachable | FollowUpTaskCompleted
    | FollowUpTaskWithdrawn | FollowUpTaskTransferred
)  # fmt: skip
# The events that move a task's due time (assigned, due, retry scheduled, overdue).
Rescheduled = (
    FollowUpTaskAssigned | FollowUpTaskDue | FollowUpCallRetryScheduled | FollowUpTaskOverdue
)
RESCHEDULED_TYPES = (
    EventName.TASK_ASSIGNED, EventName.TASK_DUE, EventName.CALL_RETRY_SCHEDULED,
)  # fmt: skip
# The task events written a wave at a time (on_task_events); the others one by one.
TASK_WAVE_TYPES: tuple[str, ...] = (
    EventName.TASK_PLANNED, *RESCHEDULED_TYPES, EventName.TASK_OVERDUE,
    EventName.TASK_WITHDRAWN,
)  # fmt: skip


def _task_labels(task: TaskEvent) -> dict[str, str]:
    return {"department": label(task.department_code), "kind": label(task.kind)}


async def _ensure_task(conn: asyncpg.Connection, task: TaskEvent) -> str:
    await repo.ensure_task(conn, task.task_id, **_task_labels(task))
    return task.task_id


async def on_tasks_planned(
    conn: asyncpg.Connection, run: Sequence[Received[FollowUpTaskPlanned]]
) -> None:
    """A run of planned tasks in one statement; a task id seen again is not new."""
    rows: dict[str, dict[str, Any]] = {}
    for e in run:
        planned = e.contract
        if planned.task_id not in rows:
            rows[planned.task_id] = {
                "task_id": planned.task_id,
                **_task_labels(planned),
                "source_event_id": planned.source_event_id,
                "source_ref": None,  # a planned task has none yet: `task_unreachable` carries it
                "due_at": planned.due_at,
                "planned_at": e.time,
            }
    fresh = await repo.plan_tasks(conn, list(rows.values()))
    for row in rows.values():
        if row["task_id"] in fresh:
            labels = {"department": row["department"], "kind": row["kind"]}
            run[0].tally.add(catalog.FOLLOWUP_PLANNED, labels)


def _touched(run: Sequence[Received[Rescheduled]], *, overdue: bool) -> list[dict[str, Any]]:
    """One row per task of the run, as applying its events one by one would leave it: kind
    and department from its first event, the last due time."""
    rows: dict[str, dict[str, Any]] = {}
    for e in run:
        task = e.contract
        row = rows.setdefault(task.task_id, {"task_id": task.task_id, **_task_labels(task)})
        row["due_at"] = task.due_at
        row["overdue"] = overdue
    return list(rows.values())


async def on_task_events(conn: asyncpg.Connection, run: Sequence[Received[TaskEvent]]) -> None:
    """Planned, assigned, due, retry scheduled, overdue and withdrawn tasks of a run (in
    order), a wave of distinct tasks at a time (`in_waves`): a statement or two per kind a
    wave. A withdrawal was two statements of its own and broke the run around it (a drain's
    follow-up tasks were metrics' slowest consumer once the SMS and registrations were not)."""
    for wave in in_waves(run, key=lambda e: e.contract.task_id):
        planned = _of(wave, EventName.TASK_PLANNED)
        if planned:
            await on_tasks_planned(conn, planned)
        overdue = _of(wave, EventName.TASK_OVERDUE)
        touched = _touched(_of(wave, *RESCHEDULED_TYPES), overdue=False)
        touched += _touched(overdue, overdue=True)
        if touched:
            await repo.touch_tasks(conn, touched)
        for e in overdue:
            e.tally.add(catalog.FOLLOWUP_OVERDUE, _task_labels(e.contract))
        withdrawn = _of(wave, EventName.TASK_WITHDRAWN)
        if withdrawn:
            await _tasks_withdrawn(conn, withdrawn)


def _of(wave: Sequence[Received[TaskEvent]], *types: str) -> list[Received[Any]]:
    return [e for e in wave if e.type in types]


async def _tasks_withdrawn(
    conn: asyncpg.Connection, wave: Sequence[Received[FollowUpTaskWithdrawn]]
) -> None:
    """Open tasks (a placeholder when the plan is not seen yet) withdrawn, counted once."""
    await repo.ensure_tasks(conn, [{"task_id": e.contract.task_id, **_task_labels(e.contract)}
                                   for e in wave])  # fmt: skip
    closed = await repo.withdraw_tasks(conn, [(e.contract.task_id, e.time) for e in wave])
    for e in wave:
        if e.contract.task_id in closed:
            e.tally.add(catalog.FOLLOWUP_WITHDRAWN, _task_labels(e.contract))


async def on_task_completed(conn: asyncpg.Connection, e: Received[FollowUpTaskCompleted]) -> None:
    done = e.contract
    task_id = await _ensure_task(conn, done)
    changed = await repo.update_task(
        conn,
        task_id,
        "reached_at IS NULL",
        status="done",
        reached_at=done.completed_at,
        closed_at=done.completed_at,
    )
    if not changed:
        return
    labels = _task_labels(done)
    outcome = "objection" if done.objection_raised else "reached"
    e.tally.add(catalog.FOLLOWUP_COMPLETED, {**labels, "outcome": outcome})
    answer = rating(done.satisfaction)
    if answer is not None:
        await repo.add_satisfaction(
            conn,
            event_id=e.id,
            task_id=task_id,
            department=labels["department"],
            kind=labels["kind"],
            aspect="overall",  # the call's overall answer; by aspect: its `answers`, below
            rating=answer,
            answered_at=done.completed_at,
        )
        e.tally.add(catalog.SATISFACTION_ANSWERS, {**labels, "rating": answer})
    await surveys.add_aspect_answers(
        conn, e, done.answers, source_id=e.id, channel=SurveyChannel.CALL, kind=labels["kind"],
        department=labels["department"], answered_at=done.completed_at,
    )  # fmt: skip


async def on_task_unreachable(
    conn: asyncpg.Connection, e: Received[FollowUpTaskUnreachable]
) -> None:
    task_id = await _ensure_task(conn, e.contract)
    changed = await repo.update_task(
        conn,
        task_id,
        "NOT unreachable AND reached_at IS NULL",
        status="done",
        unreachable=True,
        closed_at=e.time,
        source_ref=e.contract.source_ref,
    )
    if changed:
        e.tally.add(catalog.FOLLOWUP_UNREACHABLE, _task_labels(e.contract))


async def on_task_transferred(
    conn: asyncpg.Connection, e: Received[FollowUpTaskTransferred]
) -> None:
    """ADT^A02 moved an open call to another department: it counts there from now on (the
    open and overdue gauges by department); a call already closed stays where it was done."""
    task_id = await _ensure_task(conn, e.contract)
    await repo.update_task(
        conn, task_id, "status = 'open'", department=label(e.contract.department_code)
    )


# --- complaints.cases.v1 -------------------------------------------------------------


def _case_labels(e: Received[ComplaintCaseChanged]) -> dict[str, str]:
    categories = frozenset(e.settings.complaint_categories)
    case = e.contract
    return {
        "department": label(case.department_code),
        "category": label(case.category, allowed=categories, default="other"),
        "channel": label(case.channel, allowed=COMPLAINT_CHANNELS),
    }


# The limits whose first-cycle clock is kept on the case row (complaint_cases), for the KPIs.
CLOCKED_LIMITS = tuple(limit.value for limit in CLOCKED_CASE_LIMITS)


def _first_cycle_limits(case: ComplaintCaseChanged) -> dict[str, object]:
    """Due time and outcome of the first cycle's clocked limits."""
    if case.cycle != 1:
        return {}
    found: dict[str, object] = {}
    for limit in case.time_limits:
        name = limit.limit.value
        if name in CLOCKED_LIMITS:
            found[f"{name}_due_at"] = limit.due_at
            if limit.outcome is not None:
                found[f"{name}_outcome"] = limit.outcome.value
    return found


async def on_case_changed(conn: asyncpg.Connection, e: Received[ComplaintCaseChanged]) -> None:
    case = e.contract
    labels = _case_labels(e)
    await repo.save_case(
        conn, case.case_number, opened_at=case.occurred_at, status=label(case.status), **labels,
        **_first_cycle_limits(case),
    )  # fmt: skip
    step = e.type.removeprefix("complaint.case_")
    if step == "opened" and await repo.mark_case_opened(conn, case.case_number, case.occurred_at):
        e.tally.add(catalog.COMPLAINTS, labels)
    if e.type != EventName.CASE_ASSIGNED and step not in procedure.RECORDS:
        e.tally.add(catalog.COMPLAINT_TRANSITIONS, {"status": label(step)})
    await _procedure_step(conn, e, step, labels["department"])


async def _procedure_step(
    conn: asyncpg.Connection, e: Received[ComplaintCaseChanged], step: str, department: str
) -> None:
    """The complaint procedure's facts on the case's row and its live counter (issue 21)."""
    case = e.contract
    previous = case.previous_status.value if case.previous_status is not None else None
    fields = procedure.procedure_fields(
        step, previous_status=previous,
        validity=case.validity.value if case.validity is not None else None,
        at=case.occurred_at,
    )  # fmt: skip
    if fields:
        await repo.save_case(conn, case.case_number, opened_at=case.occurred_at, **fields)
    kind = procedure.procedure_kind(step, previous_status=previous)
    if kind is not None:
        e.tally.add(catalog.COMPLAINT_PROCEDURE, {"department": department, "kind": kind})


async def on_time_limit(conn: asyncpg.Connection, e: Received[ComplaintTimeLimitReached]) -> None:
    """A warning or breach: counted by department and limit; only the first cycle's is kept
    on the case row, whose clocks are the first cycle's (`_first_cycle_limits`)."""
    reached = e.contract
    limit = label(reached.limit, allowed=LIMITS)
    breach = e.type.endswith("breached")
    await repo.save_case(conn, reached.case_number, opened_at=reached.starts_at)
    # The case row keeps the first cycle's clocks (the KPIs and appraisals count them): a
    # reopened case's later cycle is counted by the metric below, not as a miss of cycle 1.
    if reached.cycle == 1:
        column = "breached_limits" if breach else "warned_limits"
        await repo.add_limit_event(conn, reached.case_number, column, limit)
    metric = catalog.COMPLAINT_BREACHES if breach else catalog.COMPLAINT_WARNINGS
    e.tally.add(metric, {"department": label(reached.department_code), "limit": limit})


async def on_complaint_satisfaction(
    conn: asyncpg.Connection, e: Received[ComplaintSatisfactionRecorded]
) -> None:
    checked = e.contract
    department = label(checked.department_code)
    fresh = await repo.add_complaint_satisfaction(
        conn,
        event_id=e.id,
        case_id=checked.case_number,
        department=department,
        satisfied=checked.satisfied,
        answered_at=checked.occurred_at,
    )
    if fresh:
        labels = {"department": department, "rating": checked.rating.value}
        e.tally.add(catalog.COMPLAINT_SATISFACTION, labels)


# --- notifications.messages.v1 -------------------------------------------------------


async def on_message_statuses(
    conn: asyncpg.Connection, run: Sequence[Received[SmsStatusChanged]]
) -> None:
    """Patient SMS reached statuses: each (message, status) counted once; staff alerts are
    not counted. The run (of any SMS types, in order) is written a wave of distinct messages
    at a time (`in_waves`), one statement a wave, not one an event (a drain's SMS came one
    batch of 500 per 500 round trips, the slowest of metrics' consumers)."""
    patients = [e for e in run if e.contract.audience != "staff"]
    for wave in in_waves(patients, key=lambda e: e.contract.message_id):
        by_id = {e.contract.message_id: e for e in wave}
        fresh = await repo.sms_statuses(conn, [_sms_row(e.contract) for e in wave])
        for message_id, template in fresh.items():
            status = by_id[message_id].contract.status.value
            run[0].tally.add(catalog.SMS, {"template": template, "status": status})


def _sms_row(sms: SmsStatusChanged) -> dict[str, Any]:
    return {
        "message_id": sms.message_id,
        "template": label(sms.template),
        "department": None,  # an SMS event names no department
        "status": sms.status.value,
        "at": sms.requested_at,
    }


BULK_HANDLERS: dict[str, BulkHandler] = {
    **{type_: on_task_events for type_ in TASK_WAVE_TYPES},
    **{type_: on_message_statuses for type_ in SMS_EVENT_TYPES},
}

HANDLERS: dict[str, Handler] = {
    "followup.task_completed": on_task_completed,
    "followup.task_unreachable": on_task_unreachable,
    "followup.task_transferred": on_task_transferred,
    "complaint.time_limit_warning": on_time_limit,
    "complaint.time_limit_breached": on_time_limit,
    "complaint.satisfaction_recorded": on_complaint_satisfaction,
    # Every case event, the rest of the procedure's (issue 21) included: its lifecycle steps
    # and its records.
    **{type_: on_case_changed for type_ in CASE_EVENT_TYPES + PROCEDURE_EVENT_TYPES},
}
