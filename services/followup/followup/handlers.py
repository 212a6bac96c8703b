"""Subscribers of the follow-up service: validate -> domain -> save -> outbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg

from hospital_shared import topics
from hospital_shared.events import CloudEvent, PatientDischarged, make_event
from hospital_shared.outbox import add_to_outbox
from hospital_shared.service_events.followup import FollowUpTaskPlanned

SOURCE = "urn:hospital:followup"


async def on_discharge_event(conn: asyncpg.Connection, event: CloudEvent[Any]) -> None:
    if event.type != "patient.discharged":
        return
    discharge: PatientDischarged = event.data
    task_id = f"FU-{discharge.admission_id}"
    planned = FollowUpTaskPlanned(
        task_id=task_id,
        kind="inpatient_discharge",
        patient_id=discharge.patient.patient_id,
        department_code=discharge.department.code,
        source_event_id=event.id,
        due_at=discharge.discharged_at + timedelta(days=3),
    )
    await conn.execute(
        "INSERT INTO follow_up_tasks (task_id, kind, patient_id, department_code, source_event_id, due_at)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        planned.task_id,
        planned.kind,
        planned.patient_id,
        planned.department_code,
        planned.source_event_id,
        planned.due_at,
    )
    out = make_event(
        "followup.task_planned",
        planned,
        source=SOURCE,
        subject=planned.patient_id,
        time=event.time,
        correlation_id=event.correlationid or event.id,
    )
    await add_to_outbox(conn, out, topic=topics.FOLLOWUP_TASKS, key=planned.patient_id)
