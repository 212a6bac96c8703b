"""A patient's answer to the survey of an SMS link (`survey.answered`, from notifications):
the contact's task is marked surveyed, and a dissatisfied answer plans the targeted second
call (二次回访) a dissatisfied call would (same id, `<task>-2`: one second call per task
whichever channel asked first).

A survey names its contact as the hospital systems do (`registration:<id>`, `admission:<id>`);
a visit not sampled for a call has no task here, so its answer changes nothing in this
service (metrics still counts it). Complaint checks (`case:<number>`) are the complaints
service's.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from prometheus_client import Counter

from followup import outgoing, repository
from followup.domain import SECOND_CALL_KINDS, derived_call
from followup.planning import inpatient_task_id, outpatient_task_id
from followup.policy import PolicyBook, WorkingHours
from hospital_shared.events import CloudEvent
from hospital_shared.vocabulary import TaskKind

SURVEYS = Counter(
    "followup_survey_answers_total",
    "Survey answers by SMS link seen, by what they did here",
    ["effect"],
)


def task_id_of(contact_ref: str) -> str | None:
    """The follow-up task of a surveyed contact (None: not a visit or discharge)."""
    kind, _, ref = contact_ref.partition(":")
    if not ref:
        return None
    return {"registration": outpatient_task_id, "admission": inpatient_task_id}.get(
        kind, lambda _: None
    )(ref)


class SurveyAnswers:
    def __init__(self, book: PolicyBook, tz: ZoneInfo) -> None:
        self.book = book
        self.tz = tz

    async def handle(self, conn: asyncpg.Connection, event: CloudEvent[Any]) -> None:
        if event.type != "survey.answered":
            return
        data = event.data
        task_id = task_id_of(data.contact_ref)
        row = await repository.fetch_task(conn, task_id, for_update=True) if task_id else None
        if row is None:
            SURVEYS.labels("no_task").inc()
            return
        await repository.mark_surveyed(
            conn, row["task_id"], at=data.answered_at, dissatisfied=data.dissatisfied
        )
        task = repository.task_from_row(row)
        if not data.dissatisfied or task.kind not in SECOND_CALL_KINDS:
            SURVEYS.labels("surveyed").inc()
            return
        policy = self.book.for_department(task.department_code)
        second = derived_call(
            task, kind=TaskKind.SECOND_CALL, suffix="2", rule="survey.dissatisfied",
            due_in=timedelta(days=policy.second_call_due_days), policy=policy,
            hours=WorkingHours.of(policy, self.tz), now=event.time,
            source_event_id=event.id,
        )  # fmt: skip
        planned = await repository.insert_planned(conn, second, source_time=event.time)
        if planned:
            await outgoing.task_planned(conn, second, time=event.time, correlation_id=event.id)
        SURVEYS.labels("second_call_planned" if planned else "second_call_exists").inc()
