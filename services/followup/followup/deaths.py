"""Patients reported deceased (a discharge with disposition `deceased`): no satisfaction call
and no SMS survey's second call goes to a deceased patient's phone (README, "Discharges handled
differently"; DOMAIN.md: never a message that could distress a family).

The report is kept per patient (`deceased_patients`, with the admission that reported it) and
does three things: the patient's calls still open are withdrawn (`patient_deceased`, each
announced as `followup.task_withdrawn`): the call of an earlier stay or visit, a retry, a second
call; no call is planned for the patient afterwards (`repository.insert_planned`: a home
discharge read late, a dissatisfied survey answered before the report); the bereavement call
(`deceased_handling=bereavement_call`), a supervisor's call to the family, is neither withdrawn
nor refused. A cancellation of the reporting discharge (`discharge.cancelled`) undoes the
report, as notifications undoes its deceased flag; the calls it withdrew stay withdrawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from followup import outgoing, repository
from followup.call_opt_outs import LOCK_ORDER
from followup.repository import Withdrawal
from hospital_shared import topics
from hospital_shared.events import CloudEvent
from hospital_shared.outbox import add_many_to_outbox
from hospital_shared.vocabulary import Disposition

DECEASED = "patient_deceased"
KEPT_KIND = "bereavement_call"  # the call to the family a death plans, when a hospital makes it
_OPEN_CALLS = (
    "SELECT task_id FROM follow_up_tasks WHERE patient_id = $1"
    f" AND status IN ('planned', 'assigned') AND kind <> '{KEPT_KIND}'"
    f" ORDER BY {LOCK_ORDER} FOR UPDATE"
)


async def on_deaths(conn: asyncpg.Connection, events: Sequence[CloudEvent[Any]]) -> None:
    """The batch's death reports recorded (their patients' open calls withdrawn) and the
    reports whose discharge was cancelled undone, in the batch's order. Run after the batch's
    calls are planned: a call of the same batch planned before the death is withdrawn too."""
    for event in events:
        data = event.data
        if event.type == "discharge.cancelled":
            await conn.execute(
                "DELETE FROM deceased_patients WHERE admission_id = $1", data.admission_id
            )
        elif event.type == "patient.discharged" and data.disposition == Disposition.DECEASED:
            await _reported(conn, event)


async def _reported(conn: asyncpg.Connection, event: CloudEvent[Any]) -> None:
    data = event.data
    patient_id, at = data.patient.patient_id, data.discharged_at
    await conn.execute(
        "INSERT INTO deceased_patients (patient_id, admission_id, reported_at)"
        " VALUES ($1, $2, $3) ON CONFLICT (patient_id) DO UPDATE"
        " SET admission_id = EXCLUDED.admission_id, reported_at = EXCLUDED.reported_at",
        patient_id, data.admission_id, at,
    )  # fmt: skip
    rows = await conn.fetch(_OPEN_CALLS, patient_id)
    withdrawn = await repository.withdraw_many(
        conn, [Withdrawal(r["task_id"], DECEASED, event.id, at) for r in rows]
    )
    await add_many_to_outbox(conn, [
        (outgoing.withdrawn_event(r, reason=DECEASED, event_id=event.id, time=event.time),
         topics.FOLLOWUP_TASKS, r["patient_id"])
        for r in withdrawn
    ])  # fmt: skip


async def is_deceased(conn: asyncpg.Connection, patient_id: str) -> bool:
    found = await conn.fetchval("SELECT 1 FROM deceased_patients WHERE patient_id = $1", patient_id)
    return found is not None
