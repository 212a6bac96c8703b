"""Patients reported deceased (a discharge with disposition `deceased`): no satisfaction call
and no SMS survey's second call goes to a deceased patient's phone (README, "Discharges handled
differently"; DOMAIN.md: never a message that could distress a family).

The report is kept per patient (`deceased_patients`: the admission and event that reported it,
and the time of death) and the patient's calls of contacts at or before that time are
withdrawn (`patient_deceased`, each announced as `followup.task_withdrawn`, its id from the
report's event): the call of an earlier stay or visit, a retry, a second call. Whichever is read
first, the death or the contact's event (two topics: no order between them), the call ends
withdrawn, planned and withdrawn once (`withdrawn_by_death`, which the simulator's expected
effects use too). A bereavement call (`deceased_handling=bereavement_call`), a supervisor's
call to the family, is never withdrawn. A survey answered before the death was reported plans
no second call (surveys.py). A cancellation of the reporting discharge undoes the report, as
notifications undoes its deceased flag; the calls it withdrew stay withdrawn.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
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
# The calls `withdrawn_by_death` names, of the patients `$1`, locked in LOCK_ORDER (from the
# few deceased patients among them: a batch of the living reads one index and stops there).
_CALLS_TO_WITHDRAW = f"""
    SELECT t.task_id, d.event_id, d.reported_at FROM follow_up_tasks t
      JOIN deceased_patients d ON d.patient_id = t.patient_id
     WHERE d.patient_id = ANY($1::text[]) AND t.status IN ('planned', 'assigned')
       AND t.kind <> '{KEPT_KIND}' AND t.source_time <= d.reported_at
     ORDER BY t.{LOCK_ORDER} FOR UPDATE OF t"""


def withdrawn_by_death(kind: str, contact_at: datetime, died_at: datetime) -> bool:
    """Whether a call of `kind` about a contact at `contact_at` is withdrawn by a death
    reported at `died_at` (the discharge's time)."""
    return kind != KEPT_KIND and contact_at <= died_at


async def on_deaths(
    conn: asyncpg.Connection, events: Sequence[CloudEvent[Any]], planned_for: Iterable[str]
) -> None:
    """The batch's death reports recorded and those whose discharge was cancelled undone, in
    the batch's order; then the calls of the reported patients and of the patients the batch
    planned calls for (`planned_for`) that a death withdraws, withdrawn. Run after the batch's
    plans: a call planned of a contact before a death reported earlier is withdrawn at once."""
    reported: set[str] = set()
    for event in events:
        data = event.data
        if event.type == "discharge.cancelled":
            await conn.execute(
                "DELETE FROM deceased_patients WHERE admission_id = $1", data.admission_id
            )
        elif event.type == "patient.discharged" and data.disposition == Disposition.DECEASED:
            await conn.execute(
                "INSERT INTO deceased_patients (patient_id, admission_id, event_id, reported_at)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (patient_id) DO UPDATE"
                " SET admission_id = EXCLUDED.admission_id, event_id = EXCLUDED.event_id,"
                " reported_at = EXCLUDED.reported_at",
                data.patient.patient_id, data.admission_id, event.id, data.discharged_at,
            )  # fmt: skip
            reported.add(data.patient.patient_id)
    await _withdraw_calls_of_deceased(conn, sorted(reported.union(planned_for)))


async def _withdraw_calls_of_deceased(conn: asyncpg.Connection, patient_ids: list[str]) -> None:
    if not patient_ids:
        return
    rows = await conn.fetch(_CALLS_TO_WITHDRAW, patient_ids)
    withdrawn = await repository.withdraw_many(
        conn, [Withdrawal(r["task_id"], DECEASED, r["event_id"], r["reported_at"]) for r in rows]
    )
    await add_many_to_outbox(conn, [
        (outgoing.withdrawn_event(r, reason=DECEASED, event_id=r["event_id"], time=r["at"]),
         topics.FOLLOWUP_TASKS, r["patient_id"])
        for r in withdrawn
    ])  # fmt: skip


async def is_deceased(conn: asyncpg.Connection, patient_id: str) -> bool:
    found = await conn.fetchval("SELECT 1 FROM deceased_patients WHERE patient_id = $1", patient_id)
    return found is not None
