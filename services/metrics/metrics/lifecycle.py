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
    ComplaintSatisfactionRecorded,
)
from hospital_shared.service_events.notifications import SMS_EVENT_TYPES
from hospital_shared.vocabulary import CLOCKED_CASE_LIMITS, CaseLimit, EventName, SurveyChannel
from metrics import catalog, procedure, surveys
from metrics import repository as repo
from metrics.domain import SMS_STATUSES, field, label, rating
from metrics.received import BulkHandler, Handler, Received

COMPLAINT_CHANNELS = frozenset(c.value for c in ComplaintChannel)
LIMITS = frozenset(limit.value for limit in CaseLimit if limit is not CaseLimit.DIRECTOR_DECISION)


# --- followup.tasks.v1 ---------------------------------------------------------------


def _task_labels(e: Received) -> dict[str, str]:
    return {"department": label(e.text("department_code")), "kind": label(e.text("kind"))}


async def _ensure_task(conn: asyncpg.Connection, e: Received) -> str:
    task_id = str(e.data["task_id"])
    await repo.ensure_task(conn, task_id, **_task_labels(e))
    return task_id


async def on_tasks_planned(conn: asyncpg.Connection, run: Sequence[Received]) -> None:
    """A run of planned tasks in one statement; a task id seen again is not new."""
    rows: dict[str, dict[str, Any]] = {}
    for e in run:
        task_id = str(e.data["task_id"])
        if task_id not in rows:
            rows[task_id] = {
                "task_id": task_id,
                **_task_labels(e),
                "source_event_id": e.text("source_event_id"),
                "source_ref": e.text("source_ref"),
                "due_at": e.at("due_at"),
                "planned_at": e.time,
            }
    fresh = await repo.plan_tasks(conn, list(rows.values()))
    for row in rows.values():
        if row["task_id"] in fresh:
            labels = {"department": row["department"], "kind": row["kind"]}
            run[0].tally.add(catalog.FOLLOWUP_PLANNED, labels)


def _touched(run: Sequence[Received], *, overdue: bool) -> list[dict[str, Any]]:
    """One row per task of the run, as applying its events one by one would leave it: kind
    and department from the events up to the first with a known kind, the last due time."""
    rows: dict[str, dict[str, Any]] = {}
    for e in run:
        task_id = str(e.data["task_id"])
        labels = _task_labels(e)
        row = rows.setdefault(task_id, {"task_id": task_id, **labels, "due_at": None})
        if row["kind"] == "unknown":
            row.update(labels)
        if field(e.data, "due_at") is not None:
            row["due_at"] = e.at("due_at")
        row["overdue"] = overdue
    return list(rows.values())


async def on_tasks_rescheduled(conn: asyncpg.Connection, run: Sequence[Received]) -> None:
    """Assigned, due or retry scheduled: only the due time matters for the overdue gauge."""
    await repo.touch_tasks(conn, _touched(run, overdue=False))


async def on_tasks_overdue(conn: asyncpg.Connection, run: Sequence[Received]) -> None:
    """Counted once per overdue event: the follow-up service publishes one per attempt."""
    await repo.touch_tasks(conn, _touched(run, overdue=True))
    for e in run:
        e.tally.add(catalog.FOLLOWUP_OVERDUE, _task_labels(e))


async def on_task_completed(conn: asyncpg.Connection, e: Received) -> None:
    task_id = await _ensure_task(conn, e)
    completed_at = e.at("completed_at")
    changed = await repo.update_task(
        conn,
        task_id,
        "reached_at IS NULL",
        status="done",
        reached_at=completed_at,
        closed_at=completed_at,
    )
    if not changed:
        return
    labels = _task_labels(e)
    outcome = "objection" if field(e.data, "objection_raised") else "reached"
    e.tally.add(catalog.FOLLOWUP_COMPLETED, {**labels, "outcome": outcome})
    answer = rating(field(e.data, "satisfaction"))
    if answer is not None:
        await repo.add_satisfaction(
            conn,
            event_id=e.id,
            task_id=task_id,
            department=labels["department"],
            kind=labels["kind"],
            aspect=e.text("aspect") or "overall",
            rating=answer,
            answered_at=completed_at,
        )
        e.tally.add(catalog.SATISFACTION_ANSWERS, {**labels, "rating": answer})
    await surveys.add_aspect_answers(
        conn, e, source_id=e.id, channel=SurveyChannel.CALL, kind=labels["kind"],
        department=labels["department"], answered_at=completed_at,
    )  # fmt: skip


async def on_task_unreachable(conn: asyncpg.Connection, e: Received) -> None:
    task_id = await _ensure_task(conn, e)
    changed = await repo.update_task(
        conn,
        task_id,
        "NOT unreachable AND reached_at IS NULL",
        status="done",
        unreachable=True,
        closed_at=e.time,
        source_ref=e.text("source_ref"),
    )
    if changed:
        e.tally.add(catalog.FOLLOWUP_UNREACHABLE, _task_labels(e))


async def on_task_withdrawn(conn: asyncpg.Connection, e: Received) -> None:
    task_id = await _ensure_task(conn, e)
    if await repo.update_task(
        conn, task_id, "status = 'open'", status="withdrawn", closed_at=e.time
    ):
        e.tally.add(catalog.FOLLOWUP_WITHDRAWN, _task_labels(e))


async def on_task_transferred(conn: asyncpg.Connection, e: Received) -> None:
    """ADT^A02 moved an open call to another department: it counts there from now on (the
    open and overdue gauges by department); a call already closed stays where it was done."""
    task_id = await _ensure_task(conn, e)
    await repo.update_task(
        conn, task_id, "status = 'open'", department=label(e.text("department_code"))
    )


# --- complaints.cases.v1 -------------------------------------------------------------


def _case_labels(e: Received) -> dict[str, str]:
    categories = frozenset(e.settings.complaint_categories)
    return {
        "department": label(e.text("department_code")),
        "category": label(e.text("category"), allowed=categories, default="other"),
        "channel": label(e.text("channel"), allowed=COMPLAINT_CHANNELS),
    }


# The limits whose first-cycle clock is kept on the case row (complaint_cases), for the KPIs.
CLOCKED_LIMITS = tuple(limit.value for limit in CLOCKED_CASE_LIMITS)


def _first_cycle_limits(e: Received) -> dict[str, object]:
    """Due time and outcome of the first cycle's clocked limits."""
    if field(e.data, "cycle") not in (None, 1):
        return {}
    found: dict[str, object] = {}
    for limit in field(e.data, "time_limits") or ():
        name = limit.get("limit")
        if name in CLOCKED_LIMITS:
            found[f"{name}_due_at"] = limit.get("due_at")
            if limit.get("outcome") is not None:
                found[f"{name}_outcome"] = str(limit["outcome"])
    return found


async def on_case_changed(conn: asyncpg.Connection, e: Received) -> None:
    case_id = str(e.data["case_number"])
    labels = _case_labels(e)
    occurred_at = e.at("occurred_at")
    status = label(e.text("status"))
    await repo.save_case(
        conn, case_id, opened_at=occurred_at, status=status, **labels, **_first_cycle_limits(e)
    )
    step = e.type.removeprefix("complaint.case_")
    if step == "opened" and await repo.mark_case_opened(conn, case_id, occurred_at):
        e.tally.add(catalog.COMPLAINTS, labels)
    if step != "assigned" and step not in procedure.RECORDS:
        e.tally.add(catalog.COMPLAINT_TRANSITIONS, {"status": label(step)})
    await _procedure_step(conn, e, case_id, step, labels["department"])


async def _procedure_step(
    conn: asyncpg.Connection, e: Received, case_id: str, step: str, department: str
) -> None:
    """The complaint procedure's facts on the case's row and its live counter (issue 21)."""
    previous = e.text("previous_status")
    fields = procedure.procedure_fields(
        step, previous_status=previous, validity=e.text("validity"),
        at=e.at("occurred_at"),
    )  # fmt: skip
    if fields:
        await repo.save_case(conn, case_id, opened_at=e.at("occurred_at"), **fields)
    kind = procedure.procedure_kind(step, previous_status=previous)
    if kind is not None:
        e.tally.add(catalog.COMPLAINT_PROCEDURE, {"department": department, "kind": kind})


async def on_time_limit(conn: asyncpg.Connection, e: Received) -> None:
    case_id = str(e.data["case_number"])
    limit = label(e.text("limit"), allowed=LIMITS)
    breach = e.type.endswith("breached")
    await repo.save_case(conn, case_id, opened_at=e.at("starts_at"))
    column = "breached_limits" if breach else "warned_limits"
    await repo.add_limit_event(conn, case_id, column, limit)
    metric = catalog.COMPLAINT_BREACHES if breach else catalog.COMPLAINT_WARNINGS
    e.tally.add(metric, {"department": label(e.text("department_code")), "limit": limit})


async def on_complaint_satisfaction(conn: asyncpg.Connection, e: Received) -> None:
    checked: ComplaintSatisfactionRecorded = e.contract
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


async def on_message_status(conn: asyncpg.Connection, e: Received) -> None:
    """A patient SMS reached a status: counted once per (message, status)."""
    if (e.text("channel") or "sms") != "sms" or e.text("recipient_kind", "audience") == "staff":
        return
    status = label(e.text("status") or e.type.rsplit("_", 1)[-1], allowed=SMS_STATUSES)
    message_id = e.text("message_id", "id")
    if message_id is None or status == "unknown":
        return
    template, fresh = await repo.sms_status(
        conn,
        message_id=message_id,
        template=label(e.text("template", "template_name")),
        department=e.text("department_code"),
        status=status,
        at=e.at("requested_at", "created_at", "occurred_at"),
    )
    if fresh:
        e.tally.add(catalog.SMS, {"template": template, "status": status})


def fallback_for(type_: str, data: dict[str, object]) -> Handler | None:
    """Types not in the table: a notifications event that carries a message status."""
    if type_.startswith(("notification.", "notifications.", "sms.")) and "status" in data:
        return on_message_status
    return None


BULK_HANDLERS: dict[str, BulkHandler] = {
    "followup.task_planned": on_tasks_planned,
    "followup.task_assigned": on_tasks_rescheduled,
    EventName.TASK_DUE: on_tasks_rescheduled,
    "followup.call_retry_scheduled": on_tasks_rescheduled,
    EventName.TASK_OVERDUE: on_tasks_overdue,
}

HANDLERS: dict[str, Handler] = {
    "followup.task_completed": on_task_completed,
    "followup.task_unreachable": on_task_unreachable,
    "followup.task_withdrawn": on_task_withdrawn,
    "followup.task_transferred": on_task_transferred,
    "complaint.time_limit_warning": on_time_limit,
    "complaint.time_limit_breached": on_time_limit,
    "complaint.satisfaction_recorded": on_complaint_satisfaction,
    **{type_: on_message_status for type_ in SMS_EVENT_TYPES},
    # Every case event, the rest of the procedure's (issue 21) included: its lifecycle steps
    # and its records.
    **{type_: on_case_changed for type_ in CASE_EVENT_TYPES + PROCEDURE_EVENT_TYPES},
}
