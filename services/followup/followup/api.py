"""HTTP routes for staff: tasks, worklists, outcomes, assignment, the department view.
Staff see their own tasks, a supervisor their department, operations everything (access.py);
what is read is in reads.py, what is changed in calls.py; the routes translate HTTP only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Query, Request, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from followup import calls, queries, reads
from followup.access import Staff, Supervising
from followup.domain import (
    STATUSES,
    AttemptNotNext,
    CallOutcome,
    Completed,
    LifeNotCurrent,
    OptedOut,
    OutcomeFieldRejected,
    RetryPlanned,
    TaskRejected,
    Unreachable,
)
from followup.next_calls import NextCallPlan, NextCallRefused, NextCallRequest
from followup.service import Service
from followup.views import (
    DepartmentOverview,
    OutcomeRecorded,
    TaskDetail,
    TaskOut,
    Worklist,
    task_out,
    tasks_out,
)
from hospital_shared.access_records import audited_router
from hospital_shared.http_api import Conn, Page, PageQuery, PageRequest, position_text
from hospital_shared.service_events.followup import Satisfaction
from hospital_shared.service_events.surveys import SurveyAnswer
from hospital_shared.vocabulary import TaskStatus


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
    attempt: int | None = Field(
        default=None,
        ge=1,
        description="the attempt this outcome records, as the caller saw the task (its"
        " attempts_made + 1): the same outcome sent twice is then refused (409, the problem's"
        " `attempts_made`) instead of counting twice. Optional; the console always sends it",
    )
    generation: int | None = Field(
        default=None,
        ge=1,
        description="the task's `generation` as the caller saw it: a task withdrawn and planned"
        " again since (a new life, whose attempts count from 0 again) refuses the outcome (409,"
        " the problem's `generation` is the task's now) instead of recording a call about the"
        " old life against the new one. Optional, as `attempt` is; the console always sends it",
    )
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
    callback_at: AwareDatetime | None = Field(
        default=None,
        description="when the person who answered asked to be called back (with"
        " not_reached_reason callback_requested), with its time zone: the next attempt's"
        " window opens then. In the future and at most `callback_max_days` (90) ahead",
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
    """The old `/reassign` body (deprecated with its route)."""

    model_config = ConfigDict(extra="forbid")

    staff_id: str = Field(min_length=1, max_length=64)


class AssignmentIn(BaseModel):
    """Whom the task goes to: as the complaints service's `/assignment` takes it."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"assignee_id": "S-AGENT-01"}}
    )

    assignee_id: str = Field(min_length=1, max_length=64)


def service_of(request: Request) -> Service:
    service: Service = request.app.state.followup
    return service


Svc = Annotated[Service, Depends(service_of)]
KEYSET = frozenset({"due_at", "task_id"})
# What a route may answer besides its 2xx, documented in OpenAPI (401/403/404: problems.py).
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "the task's state does not allow it (already assigned, closed)"}
}
OUTCOME_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "the task is closed, `attempt` is not its next one (recorded"
        " already: the problem's `attempts_made` says how many are), or `generation` is not its"
        " life now (withdrawn and planned again: the problem's `generation` says which it is)"
    }
}

router = audited_router("/v1", "follow-up tasks")


@contextmanager
def refusals() -> Iterator[None]:
    """The use cases' refusals as HTTP answers (problem+json, see hospital_shared.problems)."""
    try:
        yield
    except (NextCallRefused, OutcomeFieldRejected) as exc:
        loc = ["body", *exc.field.replace("[", ".").replace("]", "").split(".")]
        detail = [{"loc": [int(p) if p.isdigit() else p for p in loc], "msg": str(exc),
                   "type": "value_error"}]  # fmt: skip
        raise HTTPException(422, detail) from None
    except calls.NotFound:
        raise HTTPException(404, "no such task") from None
    except calls.Forbidden as exc:
        raise HTTPException(403, str(exc)) from None
    except LifeNotCurrent as exc:
        raise HTTPException(409, {"message": str(exc), "generation": exc.generation}) from None
    except AttemptNotNext as exc:
        raise HTTPException(
            409, {"message": str(exc), "attempts_made": exc.attempts_made}
        ) from None
    except TaskRejected as exc:
        raise HTTPException(409 if exc.conflict else 422, str(exc)) from None
    except reads.NoStaffId as exc:
        raise HTTPException(422, str(exc)) from None


def _after(page: PageRequest) -> tuple[datetime, str] | None:
    """Where a page by due time starts: after the (due time, task id) its cursor names."""
    return page.read_position(
        KEYSET, lambda p: (datetime.fromisoformat(p["due_at"]), position_text(p["task_id"]))
    )


def _page(request: Request, page: PageRequest, rows: list[Any], svc: Service) -> Page[TaskOut]:
    """`rows` (fetched with one more than the limit) as a page with its `next` link."""
    shown = rows[: page.limit]
    last = shown[-1] if len(rows) > page.limit else None
    position = {"due_at": last["due_at"].isoformat(), "task_id": last["task_id"]} if last else None
    items = tasks_out(shown, now=datetime.now(UTC), tz=svc.tz)
    return page.page(request, items, position)


@router.get("/tasks", response_model=Page[TaskOut])
async def list_tasks(
    request: Request,
    conn: Conn,
    svc: Svc,
    principal: Staff,
    page: PageQuery,
    patient_id: str | None = None,
    status_: Annotated[str | None, Query(alias="status")] = None,
    assignee: str | None = None,
    department: str | None = None,
    kind: str | None = None,
    overdue: bool = False,
) -> Page[TaskOut]:
    """Tasks in the caller's scope, soonest due first, a page at a time."""
    if status_ is not None and status_ not in STATUSES:
        raise HTTPException(422, f"status must be one of {list(STATUSES)}")
    filters = queries.TaskFilter(
        patient_id=patient_id, status=status_, assignee_id=assignee, department_code=department,
        kind=kind, overdue_at=datetime.now(UTC) if overdue else None,
    )  # fmt: skip
    with refusals():
        rows = await reads.list_tasks(
            conn, principal, filters, after=_after(page), limit=page.limit
        )
    return _page(request, page, rows, svc)


@router.get("/tasks/{task_id}", response_model=TaskDetail)
async def get_task(task_id: str, conn: Conn, svc: Svc, principal: Staff) -> TaskDetail:
    with refusals():
        return await reads.task_detail(conn, principal, task_id, now=datetime.now(UTC), tz=svc.tz)


def outcome_recorded(task_id: str, decision: Any, plan: NextCallPlan) -> OutcomeRecorded:
    """What the answer to a recorded outcome says of its decision."""
    done = OutcomeRecorded(
        task_id=task_id, attempts_made=decision.attempts_made, status=TaskStatus.ASSIGNED
    )
    match decision:
        case RetryPlanned():
            return done.model_copy(update={"next_attempt_at": decision.not_before})
        case Unreachable():
            return done.model_copy(update={"status": TaskStatus.UNREACHABLE})
        case OptedOut():  # the opt-out withdrew the call
            return done.model_copy(update={"status": TaskStatus.WITHDRAWN})
        case Completed(second_call=second, spot_check=spot):
            return done.model_copy(update={
                "status": TaskStatus.COMPLETED,
                "second_call_task_id": second.task_id if second else None,
                "spot_check_task_id": spot.task_id if spot else None,
                "complaint_submitted": decision.complaint,
                "next_call_task_ids": [c.call.task_id for c in plan.calls],
                "next_calls_not_planned": plan.not_planned,
            })  # fmt: skip
    raise AssertionError(f"unknown decision {decision!r}")


@router.post(
    "/tasks/{task_id}/outcome",
    response_model=OutcomeRecorded,
    response_model_exclude_unset=True,  # each decision says its own members only
    responses=OUTCOME_CONFLICT,
)
async def record_outcome(
    task_id: str, body: OutcomeIn, conn: Conn, svc: Svc, principal: Staff
) -> OutcomeRecorded:
    with refusals():  # an outcome that contradicts itself is refused as it is built
        outcome = CallOutcome(
            **body.model_dump(exclude={"next_calls", "answers", "attempt", "generation"}),
            answers=tuple(body.answers),
        )
        async with conn.transaction():
            decision, plan = await calls.record_outcome(
                conn, task_id=task_id, outcome=outcome, principal=principal, book=svc.book,
                tz=svc.tz, now=datetime.now(UTC), next_calls=body.next_call_requests(),
                attempt=body.attempt, generation=body.generation,
            )  # fmt: skip
    return outcome_recorded(task_id, decision, plan)


@router.post("/tasks/{task_id}/assignment", response_model=TaskOut, responses=CONFLICT)
async def assign(
    task_id: str, body: AssignmentIn, conn: Conn, svc: Svc, principal: Supervising
) -> TaskOut:
    """Give the task to another member of staff (a supervisor, or operations): the task as it
    is then. The same noun and body as a complaint case's `/assignment`."""
    now = datetime.now(UTC)
    with refusals():
        async with conn.transaction():
            row = await calls.reassign(
                conn, task_id=task_id, staff_id=body.assignee_id, principal=principal, now=now
            )
            await reads.record_read(conn, principal, [row])  # the answer names the patient
    return task_out(row, now=now, tz=svc.tz)


@router.post(
    "/tasks/{task_id}/reassign",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=CONFLICT,
    deprecated=True,
)
async def reassign(task_id: str, body: ReassignIn, conn: Conn, principal: Supervising) -> None:
    """Deprecated: use `POST /v1/tasks/{task_id}/assignment` (answers the task). Kept for one
    release so that clients built on it keep working; it does the same."""
    with refusals():
        async with conn.transaction():
            await calls.reassign(
                conn, task_id=task_id, staff_id=body.staff_id, principal=principal,
                now=datetime.now(UTC),
            )  # fmt: skip


@router.post("/tasks/{task_id}/take", response_model=TaskOut, responses=CONFLICT)
async def take(task_id: str, conn: Conn, svc: Svc, principal: Staff) -> TaskOut:
    """The caller takes an unassigned call of their department that their role may make
    (the console's "take" button): it is assigned to them at once, as a reassignment is."""
    now = datetime.now(UTC)
    with refusals():
        async with conn.transaction():
            row = await calls.take(conn, task_id=task_id, principal=principal, now=now)
            await reads.record_read(conn, principal, [row])
    return task_out(row, now=now, tz=svc.tz)


@router.get("/worklist/available", response_model=Page[TaskOut])
async def available(
    request: Request, conn: Conn, svc: Svc, principal: Staff, page: PageQuery
) -> Page[TaskOut]:
    """Unassigned open calls of the caller's department that their role may make: what
    they may take, soonest due first."""
    rows = await reads.available(conn, principal, after=_after(page), limit=page.limit)
    return _page(request, page, rows, svc)


@router.get("/worklist", response_model=Worklist)
async def worklist(conn: Conn, svc: Svc, principal: Staff, staff_id: str | None = None) -> Worklist:
    """A staff member's open tasks: overdue, due today, upcoming. Supervisors may look at
    another staff member's list (`staff_id`) in their department."""
    with refusals():
        return await reads.worklist(conn, principal, staff_id, now=datetime.now(UTC), tz=svc.tz)


@router.get("/departments/{code}/overview", response_model=DepartmentOverview)
async def department_overview(
    code: str, conn: Conn, svc: Svc, principal: Supervising
) -> DepartmentOverview:
    with refusals():
        return await reads.department_overview(
            conn, principal, code, now=datetime.now(UTC), tz=svc.tz
        )
