"""What the follow-up routes answer, as typed models (so the OpenAPI document says it), and the
task as staff see it. Times go out in UTC with `Z`, phones in E.164 (hospital_shared.http_api).
Every task shows why it exists (`why`: the rule and the event it came from)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from followup import repository
from followup.domain import worklist_bucket
from hospital_shared import field_crypto
from hospital_shared.http_api import WireTime, wire_phone
from hospital_shared.vocabulary import OPEN_TASK_STATUSES, TaskStatus

Bucket = Literal["overdue", "due_today", "upcoming"]


def _example(**example: Any) -> ConfigDict:
    return ConfigDict(json_schema_extra={"example": example})


class Why(BaseModel):
    rule: str = Field(description="the policy rule that planned the task")
    source_event_id: str | None = Field(description="the event it came from")
    source_ref: str | None = None
    parent_task_id: str | None = Field(None, description="the call it follows up (a next call)")


class PatientOut(BaseModel):
    patient_id: str
    name: str | None
    phone: str | None = Field(description="E.164")


class OutcomeOut(BaseModel):
    satisfaction: str | None
    score: int | None
    feedback: str | None
    objection: str | None
    completed_by: str | None
    answers: list[dict[str, Any]] = Field(description="each answered question, with its aspect")
    questionnaire_version: int | None


class SurveyOut(BaseModel):
    answered_at: WireTime | None = Field(description="when the patient answered by SMS link")
    dissatisfied: bool | None


class PlanOut(BaseModel):
    reason: str
    questions: list[str]
    script_key: str | None


TASK_EXAMPLE: dict[str, Any] = {
    "task_id": "FU-V-1001-discharge", "kind": "discharge_call", "status": "assigned",
    "why": {"rule": "inpatient_discharge", "source_event_id": "E-1", "source_ref": "V-1001",
            "parent_task_id": None},
    "patient": {"patient_id": "P-1", "name": "张三", "phone": "+8613800138000"},
    "department_code": "CARD", "assignee_id": "S-AGENT-01", "eligible_roles": ["agent"],
    "not_before": "2026-01-02T01:00:00Z", "due_at": "2026-01-09T09:00:00Z",
    "bucket": "upcoming", "attempts_made": 0, "max_attempts": 3, "generation": 1,
    "outcome": {"satisfaction": None, "score": None, "feedback": None, "objection": None,
                "completed_by": None, "answers": [], "questionnaire_version": None},
    "survey": {"answered_at": None, "dissatisfied": None}, "withdrawn_reason": None,
    "plan": None, "created_at": "2026-01-01T08:00:00Z", "closed_at": None,
}  # fmt: skip


class TaskOut(BaseModel):
    """A follow-up task as staff see it."""

    model_config = ConfigDict(json_schema_extra={"example": TASK_EXAMPLE})

    task_id: str
    kind: str
    status: str
    why: Why
    patient: PatientOut
    department_code: str
    assignee_id: str | None
    eligible_roles: list[str]
    not_before: WireTime
    due_at: WireTime
    bucket: Bucket | None = Field(description="where an open task sits in a worklist")
    attempts_made: int
    max_attempts: int
    generation: int = Field(
        description="the task's life: 1, one more each time it is planned again after a"
        " withdrawal (its attempts count from 0 again); an outcome may name it"
    )
    outcome: OutcomeOut
    survey: SurveyOut
    withdrawn_reason: str | None
    plan: PlanOut | None = Field(description="a next call's plan: why and what to ask")
    created_at: WireTime
    closed_at: WireTime | None


class NextCallOut(BaseModel):
    task_id: str
    status: str
    reason: str | None
    not_before: WireTime
    due_at: WireTime


class AttemptOut(BaseModel):
    attempt_no: int
    staff_id: str | None
    reached: bool
    feedback: str | None
    recorded_at: WireTime
    not_reached_reason: str | None
    callback_at: WireTime | None


class TaskDetail(TaskOut):
    """A task with its call attempts and the later calls its outcome planned."""

    model_config = ConfigDict(
        json_schema_extra={"example": {**TASK_EXAMPLE, "next_calls": [], "attempts": []}}
    )

    next_calls: list[NextCallOut]
    attempts: list[AttemptOut]


class OutcomeRecorded(BaseModel):
    """What a recorded outcome did: a retry planned, the task unreachable, withdrawn (the
    patient opted out on a call that reached no one), or completed (with the calls it
    planned)."""

    model_config = _example(
        task_id="FU-V-1001-discharge", attempts_made=1, status="completed",
        second_call_task_id=None, spot_check_task_id=None, complaint_submitted=False,
        next_call_task_ids=[], next_calls_not_planned=[],
    )  # fmt: skip

    task_id: str
    attempts_made: int
    status: Literal[
        TaskStatus.ASSIGNED, TaskStatus.UNREACHABLE, TaskStatus.COMPLETED, TaskStatus.WITHDRAWN
    ]
    next_attempt_at: WireTime | None = None
    second_call_task_id: str | None = None
    spot_check_task_id: str | None = None
    complaint_submitted: bool | None = None
    next_call_task_ids: list[str] | None = None
    next_calls_not_planned: list[str] | None = None


class Worklist(BaseModel):
    """A staff member's open tasks by where they sit."""

    model_config = _example(
        staff_id="S-AGENT-01", overdue=[], due_today=[TASK_EXAMPLE], upcoming=[]
    )

    staff_id: str
    overdue: list[TaskOut]
    due_today: list[TaskOut]
    upcoming: list[TaskOut]


class StaffLoad(BaseModel):
    assignee_id: str | None
    open_tasks: int
    overdue: int


class DepartmentOverview(BaseModel):
    model_config = _example(
        department_code="CARD", staff=[{"assignee_id": "S-AGENT-01", "open_tasks": 3, "overdue": 1}],
        unassigned=[], overdue=[TASK_EXAMPLE],
    )  # fmt: skip

    department_code: str
    staff: list[StaffLoad]
    unassigned: list[TaskOut]
    overdue: list[TaskOut]


def _plan(row: Any) -> PlanOut | None:
    if row["plan_reason"] is None:
        return None
    return PlanOut(
        reason=row["plan_reason"],
        questions=list(row["plan_questions"]),
        script_key=row["plan_script_key"],
    )


def _outcome(row: Any) -> OutcomeOut:
    return OutcomeOut(
        satisfaction=row["satisfaction"],
        score=row["score"],
        feedback=field_crypto.open_(row["feedback"]),
        objection=field_crypto.open_(row["objection"]),
        completed_by=row["completed_by"],
        answers=repository.answers_of(row),
        questionnaire_version=row["questionnaire_version"],
    )


def task_out(row: Any, *, now: datetime, tz: ZoneInfo) -> TaskOut:
    open_ = row["status"] in OPEN_TASK_STATUSES
    bucket = worklist_bucket(not_before=row["not_before"], due_at=row["due_at"], now=now, tz=tz)
    return TaskOut(
        task_id=row["task_id"], kind=row["kind"], status=row["status"],
        why=Why(rule=row["rule"], source_event_id=row["source_event_id"],
                source_ref=row["source_ref"], parent_task_id=row["parent_task_id"]),
        patient=PatientOut(patient_id=row["patient_id"], name=row["patient_name"],
                           phone=wire_phone(field_crypto.open_(row["patient_phone"]))),
        department_code=row["department_code"], assignee_id=row["assignee_id"],
        eligible_roles=list(row["roles"]), not_before=row["not_before"], due_at=row["due_at"],
        bucket=bucket if open_ else None,  # type: ignore[arg-type]
        attempts_made=row["attempts_made"], max_attempts=row["max_attempts"],
        generation=row["generation"], outcome=_outcome(row),
        survey=SurveyOut(answered_at=row["surveyed_at"], dissatisfied=row["survey_dissatisfied"]),
        withdrawn_reason=row["withdrawn_reason"], plan=_plan(row),
        created_at=row["created_at"], closed_at=row["closed_at"],
    )  # fmt: skip


def tasks_out(rows: Any, *, now: datetime, tz: ZoneInfo) -> list[TaskOut]:
    return [task_out(r, now=now, tz=tz) for r in rows]
