"""SQL of the follow-up register: tasks, call attempts, withdrawals and opt-outs.
(The roster lives in `roster.py`.) Every function takes the connection of the caller's
transaction; nothing here commits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from pydantic_core import to_json

from followup.domain import CallOutcome, Task
from followup.next_calls import NEXT_CALL_KIND, NextCall
from followup.planning import PlannedCall
from hospital_shared.field_crypto import open_, seal
from hospital_shared.vocabulary import Satisfaction

TASK_COLUMNS = (
    "task_id, kind, status, rule, patient_id, patient_name, patient_phone, sms_opt_out,"
    " department_code, department_name, source_event_id, source_ref, source_time, parent_task_id, not_before,"
    " due_at, roles, assignee_id, attempts_made, max_attempts, survey_invitation, generation,"
    " satisfaction, score, feedback, objection, completed_by, withdrawn_reason, closed_at,"
    " created_at, updated_at, plan_reason, plan_questions, plan_script_key,"
    " answers, questionnaire_version, surveyed_at, survey_dissatisfied"
)


def task_from_row(row: asyncpg.Record) -> Task:
    return Task(
        task_id=row["task_id"],
        kind=row["kind"],
        status=row["status"],
        patient_id=row["patient_id"],
        patient_name=row["patient_name"],
        patient_phone=open_(row["patient_phone"]),
        sms_opt_out=row["sms_opt_out"],
        department_code=row["department_code"],
        department_name=row["department_name"],
        source_event_id=row["source_event_id"],
        source_ref=row["source_ref"],
        assignee_id=row["assignee_id"],
        attempts_made=row["attempts_made"],
        max_attempts=row["max_attempts"],
        survey_invitation=row["survey_invitation"],
        parent_task_id=row["parent_task_id"],
        generation=row["generation"],
    )


async def follows_objection(conn: asyncpg.Connection, task: Task) -> bool:
    """Whether the call `task` (a second call) follows raised an objection, which its outcome
    handed to complaints as a case. Its parent, or for a second call a survey planned before
    the call's outcome (no parent link, the same `<task>-2` id), the call it is named after."""
    parent = task.parent_task_id or task.task_id.removesuffix("-2")
    sealed = await conn.fetchval(
        "SELECT objection FROM follow_up_tasks WHERE task_id = $1 AND status = 'completed'", parent
    )
    return bool((open_(sealed) or "").strip())


# A task withdrawn by an earlier cancellation is planned again, in its next life (generation:
# the ids of its events and attempts name it); any other existing one stays.
_PLAN_AGAIN_IF_WITHDRAWN = """ON CONFLICT (task_id) DO UPDATE SET
        status = 'planned', rule = EXCLUDED.rule, source_event_id = EXCLUDED.source_event_id,
        source_time = EXCLUDED.source_time, not_before = EXCLUDED.not_before,
        due_at = EXCLUDED.due_at, assignee_id = NULL, attempts_made = 0,
        due_published_attempt = 0, overdue_published_attempt = 0, withdrawn_reason = NULL,
        generation = follow_up_tasks.generation + 1,
        withdrawn_at = NULL, closed_at = NULL, updated_at = now()
      WHERE follow_up_tasks.status = 'withdrawn'
        AND follow_up_tasks.withdrawn_at < EXCLUDED.source_time
    RETURNING task_id"""


async def insert_planned(
    conn: asyncpg.Connection, call: PlannedCall, *, source_time: datetime
) -> bool:
    """Create the task unless the patient opted out, a cancellation at or after `source_time`
    already withdrew it, or it exists. A task withdrawn by an earlier cancellation is planned
    again (a discharge cancelled by mistake, then entered again). True when planned."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO follow_up_tasks (task_id, kind, rule, patient_id, patient_name, patient_phone,
            sms_opt_out, department_code, source_event_id, source_ref, source_time, parent_task_id,
            not_before, due_at, roles, max_attempts, survey_invitation, department_name)
        SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18
        WHERE NOT EXISTS (SELECT 1 FROM call_opt_outs WHERE patient_id = $4)
          AND NOT EXISTS (SELECT 1 FROM withdrawals WHERE task_id = $1 AND withdrawn_at >= $11)
        {_PLAN_AGAIN_IF_WITHDRAWN}
        """,
        call.task_id, call.kind, call.rule, call.patient_id, call.patient_name,
        seal(call.patient_phone), call.sms_opt_out, call.department_code, call.source_event_id,
        call.source_ref, source_time, call.parent_task_id, call.not_before, call.due_at,
        list(call.roles), call.max_attempts, call.survey_invitation, call.department_name,
    )  # fmt: skip
    return row is not None


async def save_call_plan(conn: asyncpg.Connection, next_call: NextCall) -> None:
    """What a next call is to ask (its task was just planned)."""
    await conn.execute(
        "UPDATE follow_up_tasks SET plan_reason = $2, plan_questions = $3, plan_script_key = $4"
        " WHERE task_id = $1",
        next_call.call.task_id,
        next_call.reason,
        list(next_call.questions),
        next_call.script_key,
    )


async def next_calls_of(conn: asyncpg.Connection, task_id: str) -> list[asyncpg.Record]:
    """The later calls `task_id`'s outcome planned, in date order."""
    return await conn.fetch(
        "SELECT task_id, status, not_before, due_at, plan_reason FROM follow_up_tasks"
        " WHERE parent_task_id = $1 AND kind = $2 ORDER BY not_before",
        task_id,
        NEXT_CALL_KIND,
    )


# The columns of a planned task as `insert_planned_many` gives them (name -> type).
_PLANNED_COLUMNS = {
    "task_id": "text", "kind": "text", "rule": "text", "patient_id": "text",
    "patient_name": "text", "patient_phone": "text", "sms_opt_out": "boolean",
    "department_code": "text", "source_event_id": "text", "source_ref": "text",
    "source_time": "timestamptz", "parent_task_id": "text", "not_before": "timestamptz",
    "due_at": "timestamptz", "roles": "text", "max_attempts": "int",
    "survey_invitation": "boolean", "department_name": "text",
}  # fmt: skip
_PLANNED_DEFS = ", ".join(f"{name} {type_}" for name, type_ in _PLANNED_COLUMNS.items())
_INSERT_PLANNED_MANY = f"""
    INSERT INTO follow_up_tasks (task_id, kind, rule, patient_id, patient_name, patient_phone,
        sms_opt_out, department_code, source_event_id, source_ref, source_time, parent_task_id,
        not_before, due_at, roles, max_attempts, survey_invitation, department_name)
    SELECT c.task_id, c.kind, c.rule, c.patient_id, c.patient_name, c.patient_phone,
        c.sms_opt_out, c.department_code, c.source_event_id, c.source_ref, c.source_time,
        c.parent_task_id, c.not_before, c.due_at, string_to_array(c.roles, ','),
        c.max_attempts, c.survey_invitation, c.department_name
    FROM ROWS FROM (json_to_recordset($1::json) AS ({_PLANNED_DEFS})) WITH ORDINALITY
      AS c({", ".join(_PLANNED_COLUMNS)}, n)
    WHERE NOT EXISTS (SELECT 1 FROM call_opt_outs o WHERE o.patient_id = c.patient_id)
      AND NOT EXISTS (SELECT 1 FROM withdrawals w
                      WHERE w.task_id = c.task_id AND w.withdrawn_at >= c.source_time)
    ORDER BY c.n
    {_PLAN_AGAIN_IF_WITHDRAWN}
"""


async def insert_planned_many(
    conn: asyncpg.Connection, calls: list[tuple[PlannedCall, datetime]]
) -> set[str]:
    """`insert_planned` for many calls (distinct task ids) in one statement; returns the ids
    of the tasks that were planned. The rows go as one JSON text (pydantic's serializer;
    times with their offset, read back as the same instants), not as an array per column:
    asyncpg checks each element of an array parameter against abstract base classes, which
    made the 18 arrays of a batch cost more of the service's CPU than the statement."""
    if not calls:
        return set()
    rows = [
        {
            "task_id": c.task_id, "kind": c.kind, "rule": c.rule, "patient_id": c.patient_id,
            "patient_name": c.patient_name, "patient_phone": seal(c.patient_phone),
            "sms_opt_out": c.sms_opt_out, "department_code": c.department_code,
            "source_event_id": c.source_event_id, "source_ref": c.source_ref, "source_time": at,
            "parent_task_id": c.parent_task_id, "not_before": c.not_before, "due_at": c.due_at,
            "roles": ",".join(c.roles), "max_attempts": c.max_attempts,
            "survey_invitation": c.survey_invitation, "department_name": c.department_name,
        }
        for c, at in calls
    ]  # fmt: skip
    found = await conn.fetch(_INSERT_PLANNED_MANY, to_json(rows).decode())
    return {r["task_id"] for r in found}


@dataclass(frozen=True)
class Withdrawal:
    task_id: str
    reason: str
    event_id: str
    at: datetime


async def withdraw_many(conn: asyncpg.Connection, items: list[Withdrawal]) -> list[asyncpg.Record]:
    """`withdraw` for many (distinct task ids); returns the withdrawn tasks with the
    withdrawal's reason, event id and time."""
    if not items:
        return []
    args = (
        [w.task_id for w in items], [w.reason for w in items],
        [w.event_id for w in items], [w.at for w in items],
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO withdrawals (task_id, reason, event_id, withdrawn_at)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])"
        " ON CONFLICT (task_id) DO UPDATE SET reason = EXCLUDED.reason,"
        " event_id = EXCLUDED.event_id, withdrawn_at = EXCLUDED.withdrawn_at"
        " WHERE withdrawals.withdrawn_at < EXCLUDED.withdrawn_at",
        *args,
    )
    return await conn.fetch(
        "UPDATE follow_up_tasks t SET status = 'withdrawn', withdrawn_reason = c.reason,"
        " withdrawn_at = c.at, closed_at = now(), updated_at = now()"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])"
        "   AS c(task_id, reason, event_id, at)"
        " WHERE t.task_id = c.task_id AND t.status IN ('planned', 'assigned')"
        "   AND t.source_time <= c.at"
        " RETURNING t.task_id, t.kind, t.patient_id, t.department_code, c.reason, c.event_id,"
        "   c.at",
        *args,
    )


async def fetch_task(
    conn: asyncpg.Connection, task_id: str, *, for_update: bool = False
) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(
        f"SELECT {TASK_COLUMNS} FROM follow_up_tasks WHERE task_id = $1{lock}", task_id
    )


async def attempts_of(conn: asyncpg.Connection, task_id: str) -> list[dict[str, Any]]:
    """A task's call attempts, their feedback decrypted."""
    rows = await conn.fetch(
        "SELECT attempt_no, staff_id, reached, feedback, recorded_at, not_reached_reason,"
        " callback_at FROM call_attempts"
        " WHERE task_id = $1 ORDER BY generation, attempt_no",
        task_id,
    )
    return [
        {
            **dict(r),
            "feedback": open_(r["feedback"]),
            "callback_at": r["callback_at"].isoformat() if r["callback_at"] else None,
        }
        for r in rows
    ]


async def record_attempt(
    conn: asyncpg.Connection, task: Task, *, attempt_no: int, staff_id: str, outcome: CallOutcome
) -> None:
    await conn.execute(
        "INSERT INTO call_attempts (task_id, attempt_no, staff_id, reached, feedback,"
        " not_reached_reason, callback_at, generation) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        task.task_id, attempt_no, staff_id, outcome.reached, seal(outcome.feedback),
        outcome.not_reached_reason, outcome.callback_at, task.generation,
    )  # fmt: skip


async def schedule_retry(
    conn: asyncpg.Connection, task_id: str, *, attempts: int, not_before: datetime, due_at: datetime
) -> None:
    await conn.execute(
        "UPDATE follow_up_tasks SET attempts_made = $2, not_before = $3, due_at = $4,"
        " updated_at = now() WHERE task_id = $1",
        task_id, attempts, not_before, due_at,
    )  # fmt: skip


async def count_attempts(conn: asyncpg.Connection, task_id: str, *, attempts: int) -> None:
    await conn.execute(
        "UPDATE follow_up_tasks SET attempts_made = $2, updated_at = now() WHERE task_id = $1",
        task_id, attempts,
    )  # fmt: skip


async def close_unreachable(conn: asyncpg.Connection, task_id: str, *, attempts: int) -> None:
    await conn.execute(
        "UPDATE follow_up_tasks SET status = 'unreachable', attempts_made = $2,"
        " closed_at = now(), updated_at = now() WHERE task_id = $1",
        task_id, attempts,
    )  # fmt: skip


async def close_completed(
    conn: asyncpg.Connection, task_id: str, *, attempts: int, by: str, outcome: CallOutcome
) -> None:
    await conn.execute(
        "UPDATE follow_up_tasks SET status = 'completed', attempts_made = $2, completed_by = $3,"
        " satisfaction = $4, score = $5, feedback = $6, objection = $7, closed_at = now(),"
        " answers = $8, questionnaire_version = $9, updated_at = now() WHERE task_id = $1",
        task_id, attempts, by,
        outcome.satisfaction.value if outcome.satisfaction else None,
        outcome.score, seal(outcome.feedback), seal(outcome.objection),
        seal(_answers_json(outcome)), outcome.questionnaire_version,
    )  # fmt: skip


def _answers_json(outcome: CallOutcome) -> str | None:
    """The answers as JSON, sealed like feedback (their text is the patient's words)."""
    if not outcome.answers:
        return None
    return json.dumps([a.model_dump(mode="json") for a in outcome.answers], ensure_ascii=False)


def answers_of(row: Any) -> list[dict[str, Any]]:
    """The call's answers, their satisfaction in the vocabulary's spelling: answers recorded
    before it (满意 ...) are sealed, so migration 200 could not respell them."""
    sealed = row["answers"]
    opened = open_(sealed) if sealed else None
    answers: list[dict[str, Any]] = json.loads(opened) if opened else []
    for answer in answers:
        if answer.get("satisfaction"):
            answer["satisfaction"] = Satisfaction(answer["satisfaction"]).value
    return answers


async def mark_surveyed(
    conn: asyncpg.Connection, task_id: str, *, at: datetime, dissatisfied: bool
) -> None:
    """The contact's patient answered its survey by SMS link (the first answer counts)."""
    await conn.execute(
        "UPDATE follow_up_tasks SET surveyed_at = $2, survey_dissatisfied = $3, updated_at = now()"
        " WHERE task_id = $1 AND surveyed_at IS NULL",
        task_id, at, dissatisfied,
    )  # fmt: skip


async def add_opt_out(conn: asyncpg.Connection, patient_id: str, *, by: str, at: datetime) -> bool:
    """The patient's call opt-out, unless they have one: True when written now."""
    written = await conn.fetchval(
        "INSERT INTO call_opt_outs (patient_id, recorded_by, recorded_at) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING true",
        patient_id,
        by,
        at,
    )
    return bool(written)


async def reassign(conn: asyncpg.Connection, task_id: str, staff_id: str) -> None:
    await conn.execute(
        "UPDATE follow_up_tasks SET assignee_id = $2, status = 'assigned', updated_at = now()"
        " WHERE task_id = $1",
        task_id,
        staff_id,
    )
