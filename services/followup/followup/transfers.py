"""An inpatient moved department (ADT^A02, `patient.transferred`): the admission's open call
moves with the patient, and the other services are told (`followup.task_transferred`), above
all when the move took the call from its assignee: without the event the notifications
service and the metrics would keep it with the old department and assignee."""

from __future__ import annotations

from typing import Any

import asyncpg

from followup.outgoing import SOURCE
from followup.planning import inpatient_task_id
from hospital_shared import topics
from hospital_shared.events import CloudEvent, make_event
from hospital_shared.service_events.followup import FollowUpTaskTransferred
from hospital_shared.service_events.registration import PatientTransferred

Row = dict[str, Any]
Outgoing = tuple[CloudEvent[Any], str, str]

_MOVE = """
WITH kept AS (
    SELECT t.task_id, t.department_code AS previous_department_code,
           t.assignee_id AS previous_assignee_id, EXISTS (
        SELECT 1 FROM staff s WHERE s.staff_id = t.assignee_id AND s.department_code = $3
    ) AS same_department
    FROM follow_up_tasks t
    WHERE t.task_id = $1 AND t.patient_id = $2 AND t.status IN ('planned', 'assigned')
      AND t.department_code IS DISTINCT FROM $3
    FOR UPDATE
)
UPDATE follow_up_tasks t
   SET department_code = $3, department_name = $4, updated_at = now(),
       assignee_id = CASE WHEN kept.same_department THEN t.assignee_id END,
       status = CASE WHEN kept.same_department THEN t.status ELSE 'planned' END
  FROM kept
 WHERE t.task_id = kept.task_id
RETURNING t.task_id, t.kind, t.patient_id, t.department_code, t.assignee_id, t.status,
          t.due_at, kept.previous_department_code, kept.previous_assignee_id
"""


async def transfer_open_tasks(conn: asyncpg.Connection, transfer: PatientTransferred) -> list[Row]:
    """The admission's open call belongs to the new department, and an assignee from another
    department hands it back (status `planned`), so the new department's staff take it. A
    transfer without an admission id, or whose admission has no open call in another
    department (the usual case: the call is planned at discharge, from the admission's
    current department; or the same transfer delivered again), changes nothing. Returns each
    task moved, with its department and assignee before (`previous_*`)."""
    if not transfer.admission_id:
        return []
    rows = await conn.fetch(
        _MOVE,
        inpatient_task_id(transfer.admission_id),
        transfer.patient_id,
        transfer.department.code,
        transfer.department.name,
    )
    return [dict(r) for r in rows]


def transferred_event(row: Row, *, source: CloudEvent[Any]) -> Outgoing:
    """`followup.task_transferred` for a moved task, its id derived from the transfer's (a
    redelivered transfer moves nothing, and would publish the same id)."""
    data = FollowUpTaskTransferred(
        task_id=row["task_id"], kind=row["kind"], patient_id=row["patient_id"],
        department_code=row["department_code"],
        previous_department_code=row["previous_department_code"],
        assignee_id=row["assignee_id"], previous_assignee_id=row["previous_assignee_id"],
        unassigned=row["assignee_id"] is None and row["previous_assignee_id"] is not None,
        status=row["status"], due_at=row["due_at"], source_event_id=source.id,
    )  # fmt: skip
    event = make_event(
        "followup.task_transferred", data, source=SOURCE, subject=row["patient_id"],
        time=source.time, event_id=f"{row['task_id']}:transferred:{source.id}",
        correlation_id=source.correlationid or source.id,
    )  # fmt: skip
    return (event, topics.FOLLOWUP_TASKS, row["patient_id"])


async def on_transfers(
    conn: asyncpg.Connection, transfers: list[CloudEvent[Any]]
) -> list[Outgoing]:
    """Move each transfer's open call, in order; the events to publish."""
    out: list[Outgoing] = []
    for event in transfers:
        for row in await transfer_open_tasks(conn, event.data):
            out.append(transferred_event(row, source=event))
    return out
