"""HTTP routes for staff: tasks, worklists, outcomes, reassignment, the department view.
Every task shows why it exists (`source_event_id`, `rule`). Staff see their own tasks, a
supervisor their department, operations everything."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from followup import calls, queries, repository, roster
from followup.access import STAFF_ROLES, SUPERVISING, can_see, scope_of
from followup.domain import (
    STATUSES,
    CallOutcome,
    Completed,
    RetryPlanned,
    TaskRejected,
    Unreachable,
    worklist_bucket,
)
from followup.next_calls import NextCallRefused, NextCallRequest
from followup.service import Service
from hospital_shared import field_crypto
from hospital_shared.access_records import Read, Reader, audited_router, record
from hospital_shared.auth import Principal, Role
from hospital_shared.service_events.followup import Satisfaction
from hospital_shared.service_events.surveys import SurveyAnswer
from hospital_shared.vocabulary import OPEN_TASK_STATUSES


class NextCallIn(BaseModel):
    """A later call: in `after_days` days or on the day `on` (one of them), why, and what to
    ask (`questions`, or a `script_key` naming the hospital's script)."""

    model_config = ConfigDict(extra="forbid")

    after_days: int | None = Field(default=None, ge=1, le=730)
    on: date | None = None
    reason: str = Field(min_length=1, max_length=200, description="e.g. chronic disease review")
    questions: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        default_factory=list, max_length=20
    )
    script_key: str | None = Field(default=None, min_length=1, max_length=64)


class OutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reached: bool
    satisfaction: Satisfaction | None = None
    score: int | None = Field(default=None, ge=1, le=5)
    feedback: str | None = Field(default=None, max_length=4000)
    objection: str | None = Field(default=None, max_length=4000)
    opt_out: bool = Field(default=False, description="the patient asks not to be called again")
    answers: list[SurveyAnswer] = Field(
        default_factory=list,
        max_length=30,
        description="answers per question of the questionnaire (GET /v1/questionnaires on"
        " notifications), each with its aspect; optional",
    )
    questionnaire_version: int | None = Field(default=None, ge=1, le=100_000)
    not_reached_reason: NotReachedReason | None = Field(
        default=None, description="why the call reached no one (with reached: false)"
    )
    callback_at: datetime | None = Field(
        default=None,
        description="when the person who answered asked to be called back (with"
        " not_reached_reason callback_requested): the next attempt's window opens then",
    )
    next_calls: list[NextCallIn] = Field(
        default_factory=list, max_length=10, description="later calls to plan (制定下次回访计划)"
    )

    def next_call_requests(self) -> list[NextCallRequest]:
        return [
            NextCallRequest(c.reason, c.after_days, c.on, tuple(c.questions), c.script_key)
            for c in self.next_calls
        ]


NotReachedReason = Literal[
    "no_answer", "busy", "switched_off", "wrong_number", "callback_requested"
]


class ReassignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    staff_id: str = Field(min_length=1, max_length=64)


def task_json(row: Any, *, now: datetime, service: Service) -> dict[str, Any]:
    open_ = row["status"] in OPEN_TASK_STATUSES
    return {
        "task_id": row["task_id"],
        "kind": row["kind"],
        "status": row["status"],
        "why": {
            "rule": row["rule"],
            "source_event_id": row["source_event_id"],
            "source_ref": row["source_ref"],
            "parent_task_id": row["parent_task_id"],
        },
        "patient": {
            "patient_id": row["patient_id"],
            "name": row["patient_name"],
            "phone": field_crypto.open_(row["patient_phone"]),
        },
        "department_code": row["department_code"],
        "assignee_id": row["assignee_id"],
        "eligible_roles": list(row["roles"]),
        "not_before": row["not_before"].isoformat(),
        "due_at": row["due_at"].isoformat(),
        "bucket": worklist_bucket(
            not_before=row["not_before"], due_at=row["due_at"], now=now, tz=service.tz
        )
        if open_
        else None,
        "attempts_made": row["attempts_made"],
        "max_attempts": row["max_attempts"],
        "outcome": {
            "satisfaction": row["satisfaction"],
            "score": row["score"],
            "feedback": field_crypto.open_(row["feedback"]),
            "objection": field_crypto.open_(row["objection"]),
            "completed_by": row["completed_by"],
            "answers": repository.answers_of(row),
            "questionnaire_version": row["questionnaire_version"],
        },
        "survey": {
            "answered_at": row["surveyed_at"].isoformat() if row["surveyed_at"] else None,
            "dissatisfied": row["survey_dissatisfied"],
        },
        "withdrawn_reason": row["withdrawn_reason"],
        # A next call's plan: why it is made and what to ask (None for other tasks).
        "plan": {
            "reason": row["plan_reason"],
            "questions": list(row["plan_questions"]),
            "script_key": row["plan_script_key"],
        }
        if row["plan_reason"] is not None
        else None,
        "created_at": row["created_at"].isoformat(),
        "closed_at": row["closed_at"].isoformat() if row["closed_at"] else None,
    }


def build_router(service: Service) -> APIRouter:
    router = audited_router("/v1", "follow-up tasks")
    staff = Depends(service.auth.require(*STAFF_ROLES))
    supervising = Depends(service.auth.require(*SUPERVISING))

    @router.get("/tasks")
    async def list_tasks(
        request: Request,
        principal: Principal = staff,
        patient_id: str | None = None,
        status_: Annotated[str | None, Query(alias="status")] = None,
        assignee: str | None = None,
        department: str | None = None,
        kind: str | None = None,
        overdue: bool = False,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        if status_ is not None and status_ not in STATUSES:
            raise HTTPException(422, f"status must be one of {list(STATUSES)}")
        scope = scope_of(principal)
        if principal.role == Role.SUPERVISOR and department not in (None, principal.department):
            raise HTTPException(403, "a supervisor sees their own department only")
        now = datetime.now(UTC)
        filters = queries.TaskFilter(
            patient_id=patient_id, status=status_, assignee_id=assignee,
            department_code=department, kind=kind, overdue_at=now if overdue else None,
        )  # fmt: skip
        async with service.pool(request).acquire() as conn:
            rows = await queries.list_tasks(
                conn, scope_assignee=scope.assignee_id, scope_department=scope.department_code,
                everything=scope.everything, filters=filters, limit=limit, offset=offset,
            )  # fmt: skip
            await record(conn, Reader.of(principal), task_reads(rows))
        return {"tasks": [task_json(r, now=now, service=service) for r in rows]}

    @router.get("/tasks/{task_id}")
    async def get_task(
        request: Request, task_id: str, principal: Principal = staff
    ) -> dict[str, Any]:
        async with service.pool(request).acquire() as conn:
            row = await repository.fetch_task(conn, task_id)
            if row is not None and not _visible(principal, row):
                await record(conn, Reader.of(principal), task_reads([row]), outcome="denied")
            if row is None or not _visible(principal, row):
                raise HTTPException(404, "no such task")
            attempts = await repository.attempts_of(conn, task_id)
            await record(conn, Reader.of(principal), task_reads([row]))
            planned = await repository.next_calls_of(conn, task_id)
        body = task_json(row, now=datetime.now(UTC), service=service)
        body["next_calls"] = [
            {"task_id": n["task_id"], "status": n["status"], "reason": n["plan_reason"],
             "not_before": n["not_before"].isoformat(), "due_at": n["due_at"].isoformat()}
            for n in planned
        ]  # fmt: skip
        body["attempts"] = [
            {**dict(a), "recorded_at": a["recorded_at"].isoformat()} for a in attempts
        ]
        return body

    @router.post("/tasks/{task_id}/outcome")
    async def record_outcome(
        request: Request, task_id: str, body: OutcomeIn, principal: Principal = staff
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        try:
            outcome = CallOutcome(
                **body.model_dump(exclude={"next_calls", "answers"}), answers=tuple(body.answers)
            )
            async with service.pool(request).acquire() as conn, conn.transaction():
                decision, plan = await calls.record_outcome(
                    conn, task_id=task_id, outcome=outcome, principal=principal,
                    book=service.book, tz=service.tz, now=now,
                    next_calls=body.next_call_requests(),
                )  # fmt: skip
        except NextCallRefused as exc:
            loc = ["body", *exc.field.replace("[", ".").replace("]", "").split(".")]
            detail = [{"loc": [int(p) if p.isdigit() else p for p in loc], "msg": str(exc),
                       "type": "value_error"}]  # fmt: skip
            raise HTTPException(422, detail) from None
        except calls.NotFound:
            raise HTTPException(404, "no such task") from None
        except calls.Forbidden as exc:
            raise HTTPException(403, str(exc)) from None
        except TaskRejected as exc:
            raise HTTPException(409 if exc.conflict else 422, str(exc)) from None
        result: dict[str, Any] = {"task_id": task_id, "attempts_made": decision.attempts_made}
        match decision:
            case RetryPlanned():
                result |= {"status": "assigned", "next_attempt_at": decision.not_before.isoformat()}
            case Unreachable():
                result |= {"status": "unreachable"}
            case Completed():
                result |= {
                    "status": "completed",
                    "second_call_task_id": decision.second_call.task_id if decision.second_call else None,
                    "spot_check_task_id": decision.spot_check.task_id if decision.spot_check else None,
                    "complaint_submitted": decision.complaint,
                    "next_call_task_ids": [c.call.task_id for c in plan.calls],
                    "next_calls_not_planned": plan.not_planned,
                }  # fmt: skip
        return result

    @router.post("/tasks/{task_id}/reassign", status_code=status.HTTP_204_NO_CONTENT)
    async def reassign(
        request: Request,
        task_id: str,
        body: ReassignIn,
        principal: Principal = supervising,
    ) -> None:
        try:
            async with service.pool(request).acquire() as conn, conn.transaction():
                await calls.reassign(
                    conn, task_id=task_id, staff_id=body.staff_id, principal=principal,
                    now=datetime.now(UTC),
                )  # fmt: skip
        except calls.NotFound:
            raise HTTPException(404, "no such task") from None
        except TaskRejected as exc:
            raise HTTPException(409 if exc.conflict else 422, str(exc)) from None

    @router.post("/tasks/{task_id}/take")
    async def take(request: Request, task_id: str, principal: Principal = staff) -> dict[str, Any]:
        """The caller takes an unassigned call of their department that their role may make
        (the console's "take" button): it is assigned to them at once, as a reassignment is."""
        try:
            async with service.pool(request).acquire() as conn, conn.transaction():
                row = await calls.take(
                    conn, task_id=task_id, principal=principal, now=datetime.now(UTC)
                )
                await record(conn, Reader.of(principal), task_reads([row]))
        except calls.NotFound:
            raise HTTPException(404, "no such task") from None
        except TaskRejected as exc:
            raise HTTPException(409 if exc.conflict else 422, str(exc)) from None
        return task_json(row, now=datetime.now(UTC), service=service)

    @router.get("/worklist/available")
    async def available(
        request: Request,
        principal: Principal = staff,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> dict[str, Any]:
        """Unassigned open calls of the caller's department that their role may make: what
        they may take."""
        if principal.department is None:
            return {"tasks": []}
        now = datetime.now(UTC)
        async with service.pool(request).acquire() as conn:
            rows = await queries.unassigned_for(
                conn, principal.department, principal.role.value, limit=limit
            )
            await record(conn, Reader.of(principal), task_reads(rows))
        return {"tasks": [task_json(r, now=now, service=service) for r in rows]}

    @router.get("/worklist")
    async def worklist(
        request: Request, principal: Principal = staff, staff_id: str | None = None
    ) -> dict[str, Any]:
        """A staff member's open tasks: overdue, due today, upcoming. Supervisors may look at
        another staff member's list (`staff_id`) in their department."""
        whose = staff_id or principal.staff_id
        if whose is None:
            raise HTTPException(422, "staff_id is required for this caller")
        now = datetime.now(UTC)
        async with service.pool(request).acquire() as conn:
            if whose != principal.staff_id:
                await _check_supervises(conn, principal, whose)
            rows = await queries.open_tasks_of(conn, whose)
            await record(conn, Reader.of(principal), task_reads(rows))
        lists: dict[str, list[dict[str, Any]]] = {"overdue": [], "due_today": [], "upcoming": []}
        for row in rows:
            item = task_json(row, now=now, service=service)
            lists[item["bucket"]].append(item)
        return {"staff_id": whose, **lists}

    @router.get("/departments/{code}/overview")
    async def department_overview(
        request: Request, code: str, principal: Principal = supervising
    ) -> dict[str, Any]:
        if principal.role == Role.SUPERVISOR and principal.department != code:
            raise HTTPException(403, "a supervisor sees their own department only")
        now = datetime.now(UTC)
        async with service.pool(request).acquire() as conn:
            summary = await queries.department_summary(conn, code, now)
            shown = [*summary["unassigned"], *summary["overdue"]]
            await record(conn, Reader.of(principal), task_reads(shown))
        return {
            "department_code": code,
            "staff": [dict(r) for r in summary["per_staff"]],
            "unassigned": [task_json(r, now=now, service=service) for r in summary["unassigned"]],
            "overdue": [task_json(r, now=now, service=service) for r in summary["overdue"]],
        }

    return router


def task_reads(rows: Any) -> list[Read]:
    """What an answer with these tasks reads: their patients' names and phones, feedback."""
    return [
        Read(r["patient_id"], "follow_up_task", r["task_id"],
             department=r["department_code"], assignee_id=r["assignee_id"])
        for r in rows
    ]  # fmt: skip


def _visible(principal: Principal, row: Any) -> bool:
    return can_see(
        principal, assignee_id=row["assignee_id"], department_code=row["department_code"]
    )


async def _check_supervises(conn: Any, principal: Principal, staff_id: str) -> None:
    if principal.role == Role.ADMIN:
        return
    member = await roster.get_member(conn, staff_id)
    if (
        principal.role != Role.SUPERVISOR
        or member is None
        or member["department_code"] != principal.department
    ):
        raise HTTPException(403, "only a supervisor of that staff member's department")
