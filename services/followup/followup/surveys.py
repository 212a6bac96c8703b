"""A patient's answer to the survey of an SMS link (`survey.answered`, from notifications):
the contact's task is marked surveyed, and a dissatisfied answer plans the targeted second
call (二次回访) a dissatisfied call would (same id, `<task>-2`: one second call per task
whichever channel asked first).

A survey names its contact as the hospital systems do (`registration:<id>`, `admission:<id>`).
A visit not sampled for a call has no task here: a dissatisfied answer about it still plans
the targeted second call, from the survey alone (the id the visit's task would have, `-2`;
no phone number: this service never saw the visit's patient details, the caller looks the
patient up); a satisfied one changes nothing here (metrics counts it). Complaint checks
(`case:<number>`) are the complaints service's.

No second call for a patient reported deceased (deaths.py): an answer given before the death
was reported (notifications closes the link then) still marks the task, and calls nobody.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from prometheus_client import Counter

from followup import outgoing, repository
from followup.deaths import is_deceased
from followup.domain import SECOND_CALL_KINDS, Task, derived_call
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


def unsampled_contact(task_id: str, data: Any, event_id: str) -> Task:
    """The visit or discharge a survey answered, as the never-planned task the targeted
    second call follows (its id `<task id>-2`, so a call's second call and the survey's are
    one); the parent link is left out, there being no such task."""
    kind, _, ref = data.contact_ref.partition(":")
    return Task(
        task_id=task_id, kind="inpatient_discharge" if kind == "admission" else "outpatient_visit",
        status="completed", patient_id=data.patient_id, patient_name=None, patient_phone=None,
        sms_opt_out=False, department_code=data.department_code, department_name=None,
        source_event_id=event_id, source_ref=ref, assignee_id=None, attempts_made=0,
        max_attempts=0, survey_invitation=False,
    )  # fmt: skip


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
        if row is not None:
            await repository.mark_surveyed(
                conn, row["task_id"], at=data.answered_at, dissatisfied=data.dissatisfied
            )
            task = repository.task_from_row(row)
        elif task_id is not None and data.dissatisfied and data.department_code:
            task = unsampled_contact(task_id, data, event.id)
        else:
            SURVEYS.labels("no_task").inc()
            return
        if not data.dissatisfied or task.kind not in SECOND_CALL_KINDS:
            SURVEYS.labels("surveyed").inc()
            return
        if await is_deceased(conn, task.patient_id):
            SURVEYS.labels("patient_deceased").inc()
            return
        policy = self.book.for_department(task.department_code)
        second = derived_call(
            task, kind=TaskKind.SECOND_CALL, suffix="2", rule="survey.dissatisfied",
            due_in=timedelta(days=policy.second_call_due_days), policy=policy,
            hours=WorkingHours.of(policy, self.tz), now=event.time,
            source_event_id=event.id,
        )  # fmt: skip
        if row is None:
            second = replace(second, parent_task_id=None)
        planned = await repository.insert_planned(conn, second, source_time=event.time)
        if planned:
            await outgoing.task_planned(conn, second, time=event.time, correlation_id=event.id)
        SURVEYS.labels("second_call_planned" if planned else "second_call_exists").inc()
