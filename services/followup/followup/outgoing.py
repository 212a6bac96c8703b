"""The events the follow-up service publishes, always through the outbox in the caller's
transaction. Event ids are derived from the transition (`<task>:assigned:<n>`...), so a
transition that is somehow written twice is still published once."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

import asyncpg
from pydantic import BaseModel

from followup.domain import CallOutcome, Task
from followup.planning import PlannedCall
from hospital_shared import topics
from hospital_shared.codec import encode_new_event
from hospital_shared.events import (
    CloudEvent,
    Complainant,
    ComplaintChannel,
    ComplaintSubmitted,
    Department,
    make_event,
)
from hospital_shared.outbox import add_to_outbox
from hospital_shared.service_events.followup import (
    FollowUpCallRetryScheduled,
    FollowUpTaskAssigned,
    FollowUpTaskCompleted,
    FollowUpTaskPlanned,
    FollowUpTaskUnreachable,
    FollowUpTaskWithdrawn,
    StaffMemberSaved,
)

SOURCE = "urn:hospital:followup"
OutboxRow = tuple[str, str, str, bytes]  # (event id, topic, key, payload): add_encoded_to_outbox


async def publish(
    conn: asyncpg.Connection,
    type_: str,
    data: BaseModel,
    *,
    subject: str,
    time: datetime,
    event_id: str,
    correlation_id: str | None = None,
    topic: str = topics.FOLLOWUP_TASKS,
) -> None:
    event = new_event(
        type_, data, subject=subject, time=time, event_id=event_id,
        correlation_id=correlation_id,
    )  # fmt: skip
    await add_to_outbox(conn, event, topic=topic, key=subject)


def new_event(
    type_: str, data: BaseModel, *, subject: str, time: datetime, event_id: str,
    correlation_id: str | None = None,
) -> CloudEvent[Any]:  # fmt: skip
    """The event `publish` queues, for callers that queue many at once (keyed by `subject`)."""
    return make_event(
        type_, data, source=SOURCE, subject=subject, time=time,
        correlation_id=correlation_id, event_id=event_id,
    )  # fmt: skip


def _planned_data(call: PlannedCall) -> FollowUpTaskPlanned:
    return FollowUpTaskPlanned(
        task_id=call.task_id, kind=call.kind, patient_id=call.patient_id,
        department_code=call.department_code, source_event_id=call.source_event_id,
        due_at=call.due_at, rule=call.rule, not_before=call.not_before,
        parent_task_id=call.parent_task_id,
    )  # fmt: skip


def life_id(task_id: str, generation: int) -> str:
    """The task's id as the events of one of its lives name it: a task withdrawn and planned
    again counts its attempts from 0 again, so `<task>:overdue:1` of its second life would be
    its first life's id, dropped by the outbox and the consumers' inboxes as a repeat. The
    first life keeps the ids it always had (those published and stored before lives were
    counted); a later one is `<generation>:<task>`. In front, not behind: an id from the HIS
    may hold `:` (admission `A:2`, task `FU-A:2`), and `FU-A:2` as the second life of `FU-A`
    would be that task's first. A task id starts `FU-`, so a life's id names one task and one
    life, and `<life>:<transition>:<attempt>` one event (read from both ends)."""
    return task_id if generation == 1 else f"{generation}:{task_id}"


def _planned_id(call: PlannedCall) -> str:
    return f"{call.task_id}:planned:{call.source_event_id}"


def planned_event(
    call: PlannedCall, *, time: datetime, correlation_id: str | None
) -> CloudEvent[Any]:
    return make_event(
        "followup.task_planned", _planned_data(call), source=SOURCE, subject=call.patient_id,
        time=time, event_id=_planned_id(call), correlation_id=correlation_id,
    )  # fmt: skip


def planned_row(call: PlannedCall, *, time: datetime, correlation_id: str | None) -> OutboxRow:
    """`planned_event`'s outbox row, the event encoded in one pass without building its
    envelope (`encode_new_event`): the same event (`decode` gives `planned_event`'s back),
    for the consumer's batches, where building and dumping the envelope was 5% of a drain's
    samples."""
    event_id = _planned_id(call)
    payload = encode_new_event(
        "followup.task_planned", _planned_data(call), event_id=event_id, source=SOURCE,
        subject=call.patient_id, time=time, correlation_id=correlation_id,
    )  # fmt: skip
    return event_id, topics.FOLLOWUP_TASKS, call.patient_id, payload


async def task_planned(
    conn: asyncpg.Connection, call: PlannedCall, *, time: datetime, correlation_id: str | None
) -> None:
    event = planned_event(call, time=time, correlation_id=correlation_id)
    await add_to_outbox(conn, event, topic=topics.FOLLOWUP_TASKS, key=call.patient_id)


def withdrawn_event(
    row: asyncpg.Record | dict[str, Any], *, reason: str, event_id: str, time: datetime
) -> CloudEvent[Any]:
    data = FollowUpTaskWithdrawn(
        task_id=row["task_id"], kind=row["kind"], patient_id=row["patient_id"],
        department_code=row["department_code"], reason=reason, source_event_id=event_id,
    )  # fmt: skip
    return make_event(
        "followup.task_withdrawn", data, source=SOURCE, subject=row["patient_id"], time=time,
        event_id=f"{row['task_id']}:withdrawn:{event_id}", correlation_id=event_id,
    )  # fmt: skip


async def task_assigned(
    conn: asyncpg.Connection,
    row: asyncpg.Record | dict[str, Any],
    *,
    assignee_id: str,
    time: datetime,
    assigned_by: str | None = None,
) -> None:
    event = assigned_event(row, assignee_id=assignee_id, time=time, assigned_by=assigned_by)
    await add_to_outbox(conn, event, topic=topics.FOLLOWUP_TASKS, key=row["patient_id"])


def assigned_event(
    row: asyncpg.Record | dict[str, Any],
    *,
    assignee_id: str,
    time: datetime,
    assigned_by: str | None = None,
) -> CloudEvent[Any]:
    data = FollowUpTaskAssigned(
        task_id=row["task_id"], kind=row["kind"], patient_id=row["patient_id"],
        department_code=row["department_code"], assignee_id=assignee_id,
        previous_assignee_id=row["assignee_id"], assigned_by=assigned_by, due_at=row["due_at"],
    )  # fmt: skip
    stamp = int(time.timestamp() * 1000)
    return new_event(
        "followup.task_assigned", data, subject=row["patient_id"], time=time,
        event_id=f"{row['task_id']}:assigned:{assignee_id}:{stamp}",
    )  # fmt: skip


async def retry_scheduled(
    conn: asyncpg.Connection, task: Task, *, attempts: int, not_before: datetime,
    due_at: datetime, time: datetime, by: str | None = None,
) -> None:  # fmt: skip
    data = FollowUpCallRetryScheduled(
        task_id=task.task_id, kind=task.kind, patient_id=task.patient_id,
        department_code=task.department_code, attempts_made=attempts,
        max_attempts=task.max_attempts, next_attempt_at=not_before, due_at=due_at,
        called_by=by,
    )  # fmt: skip
    await publish(
        conn, "followup.call_retry_scheduled", data, subject=task.patient_id, time=time,
        event_id=f"{life_id(task.task_id, task.generation)}:retry:{attempts}",
    )  # fmt: skip


async def task_unreachable(
    conn: asyncpg.Connection, task: Task, *, attempts: int, time: datetime, by: str | None = None
) -> None:
    data = FollowUpTaskUnreachable(
        task_id=task.task_id, kind=task.kind, patient_id=task.patient_id,
        department_code=task.department_code, attempts_made=attempts, source_ref=task.source_ref,
        patient_phone=task.patient_phone, sms_opt_out=task.sms_opt_out,
        survey_invitation=task.survey_invitation, called_by=by,
    )  # fmt: skip
    await publish(
        conn, "followup.task_unreachable", data, subject=task.patient_id, time=time,
        event_id=f"{task.task_id}:unreachable",
    )  # fmt: skip


async def task_completed(
    conn: asyncpg.Connection,
    task: Task,
    outcome: CallOutcome,
    *,
    attempts: int,
    by: str,
    time: datetime,
    second_call_task_id: str | None,
    spot_check_task_id: str | None,
) -> None:
    data = FollowUpTaskCompleted(
        task_id=task.task_id, kind=task.kind, patient_id=task.patient_id,
        department_code=task.department_code, completed_by=by, completed_at=time,
        attempts_made=attempts, satisfaction=outcome.satisfaction, score=outcome.score,
        objection_raised=outcome.objection_raised, second_call_task_id=second_call_task_id,
        spot_check_task_id=spot_check_task_id, answers=outcome.answers,
        questionnaire_version=outcome.questionnaire_version,
    )  # fmt: skip
    await publish(
        conn, "followup.task_completed", data, subject=task.patient_id, time=time,
        event_id=f"{task.task_id}:completed",
    )  # fmt: skip


def objection_id() -> str:
    """The complaint's `external_id` for an objection: 128 random bits, never derived from the
    task. `<task>-OBJ` could be worked out from an admission number, and whoever knows a
    complaint's (channel, external_id) can ask the complaints service for it or open a case
    under it first, so that the real objection is taken for a repeat.

    Still exactly once: the id is drawn inside the transaction that closes the call (a closed
    call takes no second outcome), and it lives in the outbox row's payload, so every redelivery
    carries the same one; the event id stays `<task>:complaint`, as the inbox dedupes on it."""
    return f"OBJ-{secrets.token_hex(16)}"


async def objection_as_complaint(
    conn: asyncpg.Connection, task: Task, outcome: CallOutcome, *, time: datetime
) -> None:
    """Hand the patient's objection to the complaints service as a `complaint.submitted`,
    lodged by the patient of the task: by their id, with the name and phone the task has (a
    survey's second call has neither; the case is still the patient's, texted on file)."""
    patient = Complainant(
        patient_id=task.patient_id, name=task.patient_name or None,
        phone=task.patient_phone or None, sms_opt_out=task.sms_opt_out,
    )  # fmt: skip
    data = ComplaintSubmitted(
        external_id=objection_id(),
        channel=ComplaintChannel.FOLLOWUP,
        patient=patient,
        department=Department(
            code=task.department_code, name=task.department_name or task.department_code
        ),
        description=(outcome.objection or "").strip(),
        submitted_at=time,
    )
    await publish(
        conn, "complaint.submitted", data, subject=task.patient_id, time=time,
        event_id=f"{task.task_id}:complaint", correlation_id=task.source_event_id,
        topic=topics.COMPLAINTS_IN,
    )  # fmt: skip


async def staff_saved(conn: asyncpg.Connection, member: StaffMemberSaved, *, time: datetime) -> str:
    """Queue the roster change; its event id (what the change causes names it)."""
    event_id = f"staff:{member.staff_id}:{int(time.timestamp() * 1_000_000)}"
    await publish(
        conn, "staff.member_saved", member, subject=member.staff_id, time=time,
        event_id=event_id, topic=topics.STAFF_ROSTER,
    )  # fmt: skip
    return event_id
