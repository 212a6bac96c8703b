"""Call opt-outs: a patient who asks during a call not to be called again (the outcome's
`opt_out`) is never planned a call again (`repository.insert_planned`). Each is published on
`followup.call-opt-outs.v1` in the transaction that records it (the outbox) and read back by
this service (`replay`).

They come over HTTP, not from Kafka: a restore of the database lost those recorded after the
backup, and the patient's next discharge or visit was planned a call again. Read back from
Kafka after the restore like every other event, each is written again, once (one row per
patient; in normal running the row is there and reading it back does nothing), with who
recorded it and when. Under the surviving id when the patient was merged meanwhile (as every
consumer reads a merged id). A call opt-out is never withdrawn, so no withdrawal is replayed.

An opt-out also withdraws the patient's calls still open (`patient_opted_out`, each announced
as `followup.task_withdrawn`): the call of an outcome that reached no one, whose retry was
planned anyway; a call of another visit planned before it; and, read back after a restore, the
very call the patient opted out on, which the restored database has open again. Their ids come
from the opt-out's, so a replay announces none twice.

Lock order (LOCK_ORDER): the patient's calls are locked by task id before their opt-out row is
written, as a hand-back (`handback`) locks a member's calls and a merge the merged patient's.
An outcome's opt-out locked its own call first and the patient's others later, and a hand-back
or a merge holding one of those and waiting for the call deadlocked with it (PostgreSQL ended
one: a 5xx at the desk, or a consumer's retry)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from followup import outgoing, repository
from followup.domain import Task
from followup.outgoing import life_id, publish
from followup.repository import Withdrawal
from hospital_shared import topics
from hospital_shared.events import CloudEvent
from hospital_shared.outbox import add_many_to_outbox
from hospital_shared.patient_merge import resolve_patients
from hospital_shared.service_events.followup import FollowUpCallOptOutRecorded
from hospital_shared.vocabulary import EventName


async def record(
    conn: asyncpg.Connection, task: Task, *, attempt: int, by: str, now: datetime
) -> None:
    """Record the opt-out said during `task`'s call `attempt`, and publish it (not again
    when the patient had opted out already: that one was published). The patient's calls are
    locked already (`lock_calls_of_patient_of`, before the outcome's)."""
    event_id = f"{life_id(task.task_id, task.generation)}:opt_out:{attempt}"
    if await repository.add_opt_out(conn, task.patient_id, by=by, at=now):
        data = FollowUpCallOptOutRecorded(
            patient_id=task.patient_id, task_id=task.task_id, recorded_by=by, recorded_at=now
        )
        await publish(
            conn, EventName.CALL_OPT_OUT_RECORDED, data, subject=task.patient_id, time=now,
            event_id=event_id, topic=topics.CALL_OPT_OUTS,
        )  # fmt: skip
    await withdraw_open_calls(conn, task.patient_id, event_id=event_id, at=now)


async def replay(conn: asyncpg.Connection, event: CloudEvent[Any]) -> None:
    """A call opt-out read back: written if this database lacks it (a restore from a backup
    taken before it), so that no call is planned for the patient again."""
    if event.type != EventName.CALL_OPT_OUT_RECORDED:
        return
    [event] = await resolve_patients(conn, [event])
    data = event.data
    await lock_open_calls(conn, data.patient_id)
    if await repository.add_opt_out(
        conn, data.patient_id, by=data.recorded_by, at=data.recorded_at
    ):
        await withdraw_open_calls(conn, data.patient_id, event_id=event.id, at=data.recorded_at)


OPTED_OUT = "patient_opted_out"
LOCK_ORDER = "task_id"
_OPEN_CALLS = (
    "SELECT task_id FROM follow_up_tasks WHERE patient_id = $1 AND status IN ('planned', 'assigned')"
    f" ORDER BY {LOCK_ORDER} FOR UPDATE"
)
# The open calls of the patient `$1`'s call is of, that call among them, in LOCK_ORDER.
_CALLS_OF_PATIENT_OF = (
    "SELECT task_id FROM follow_up_tasks WHERE patient_id ="
    " (SELECT patient_id FROM follow_up_tasks WHERE task_id = $1)"
    " AND (task_id = $1 OR status IN ('planned', 'assigned'))"
    f" ORDER BY {LOCK_ORDER} FOR UPDATE"
)


async def lock_calls_of_patient_of(conn: asyncpg.Connection, task_id: str) -> None:
    """Before an outcome that opts the patient out locks its call: that call and the patient's
    other open calls, in LOCK_ORDER (the opt-out will withdraw the others)."""
    await conn.execute(_CALLS_OF_PATIENT_OF, task_id)


async def lock_open_calls(conn: asyncpg.Connection, patient_id: str) -> None:
    """The patient's open calls locked in LOCK_ORDER, before their opt-out row is written."""
    await conn.execute(_OPEN_CALLS, patient_id)


async def withdraw_open_calls(
    conn: asyncpg.Connection, patient_id: str, *, event_id: str, at: datetime
) -> int:
    """Withdraw the patient's open calls (an opt-out's, `event_id`), announce each; how many.
    A call whose outcome is being recorded at this moment is waited for (its row is locked)."""
    rows = await conn.fetch(_OPEN_CALLS, patient_id)
    # Every open call, whatever its stay's time: read back after a restore, an opt-out comes
    # after the discharges replayed before it, whose calls are later than the opt-out itself.
    # (`withdraw_many` withdraws a call only from a source older than the withdrawal's time.)
    covering = max(at, datetime.now(UTC))
    withdrawals = [Withdrawal(r["task_id"], OPTED_OUT, event_id, covering) for r in rows]
    withdrawn = await repository.withdraw_many(conn, withdrawals)
    await add_many_to_outbox(conn, [
        (outgoing.withdrawn_event(r, reason=OPTED_OUT, event_id=event_id, time=at),
         topics.FOLLOWUP_TASKS, r["patient_id"])
        for r in withdrawn
    ])  # fmt: skip
    return len(withdrawn)
