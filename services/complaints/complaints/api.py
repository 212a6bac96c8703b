"""HTTP routes: open, read, list and move complaint cases; the satisfaction check; the
classification rules. Bearer tokens with roles; complaint data is confidential."""

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from complaints import cases
from complaints import repository as repo
from complaints.access import Actor, can_read_text, can_view, is_working, opening_key, visibility
from complaints.domain import (
    Category,
    InvalidField,
    MissingResolution,
    NotPermitted,
    Priority,
    ProcedureRefused,
    Status,
    TransitionRefused,
)
from complaints.intake import Allocate, case_day, open_case
from complaints.policy import CasePolicy
from complaints.repository import TimeLimitState
from complaints.rulebook import RuleBook
from complaints.views import (
    AssignmentIn,
    OpenCase,
    SatisfactionIn,
    TransitionIn,
    case_receipt,
    case_view,
    withhold_notes,
    withhold_text,
)
from hospital_shared.access_records import Read, Reader, audited_router, record
from hospital_shared.auth import Principal, Role, TokenAuth


@dataclass
class Context:
    policy: CasePolicy
    rulebook: RuleBook
    clock: Callable[[], datetime]
    allocate: Allocate
    satisfaction_check_days: float


STAFF = (Role.AGENT, Role.DOCTOR, Role.SUPERVISOR)
# Reading cases: staff, the director (every case) and operations (admin, read-only).
READERS = (*STAFF, Role.DIRECTOR, Role.ADMIN)
# Moving cases: staff and the director, who takes the supervisor's steps on escalations.
WORKERS = (*STAFF, Role.DIRECTOR)


def actor_of(principal: Principal) -> Actor:
    ident = principal.staff_id or f"{principal.role.value}:{principal.name or 'unnamed'}"
    return Actor(ident, principal.role.value, principal.department)


async def _conn(request: Request) -> AsyncIterator[asyncpg.Connection]:
    async with request.app.state.runtime.pool.acquire() as conn:
        yield conn


def _ctx(request: Request) -> Context:
    ctx: Context = request.app.state.complaints
    return ctx


Conn = Annotated[asyncpg.Connection, Depends(_conn)]
Ctx = Annotated[Context, Depends(_ctx)]


def _refusal(exc: Exception) -> HTTPException:
    if isinstance(exc, TransitionRefused):
        return HTTPException(
            status.HTTP_409_CONFLICT,
            detail={
                "message": str(exc),
                "current_status": exc.current.value,
                "requested": exc.wanted,
                "allowed_next": exc.allowed,
                "missing_step": exc.missing,
            },
        )
    if isinstance(exc, NotPermitted):
        return HTTPException(status.HTTP_403_FORBIDDEN, detail=str(exc))
    if isinstance(exc, MissingResolution):
        return HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, detail=str(exc))
    if isinstance(exc, InvalidField):
        # The shape of a validation error (`http_guard`): the field, the message, a type.
        problem = {"loc": ["body", exc.field], "msg": str(exc), "type": "value_error"}
        return HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, detail=[problem])
    if isinstance(exc, cases.CaseNotFound):
        return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no case {exc}")
    return HTTPException(status.HTTP_409_CONFLICT, detail=str(exc))


REFUSALS = (
    TransitionRefused,
    NotPermitted,
    MissingResolution,
    InvalidField,
    ProcedureRefused,
    cases.CaseNotFound,
    cases.CaseConflict,
)


def case_read(case: dict[str, Any], actor: Actor) -> Read:
    """A case as an access record sees it: in the actor's scope when they work it or it is in
    their department (the one concerned or the handling one)."""
    handling = case.get("handling_department")
    department = handling if handling and handling == actor.department else case["department_code"]
    assignee = actor.id if is_working(actor, case) else case["assignee_id"]
    return Read(
        case["patient_id"], "complaint_case", case["case_number"],
        department=department, assignee_id=assignee,
    )  # fmt: skip


async def record_case_reads(
    conn: asyncpg.Connection, actor: Actor, cases_: list[dict[str, Any]], *, denied: bool = False
) -> None:
    """The access records of an answer with these cases (those `actor` may read in full)."""
    reads = [case_read(c, actor) for c in cases_ if denied or can_view(actor, c)]
    await record_reads(conn, actor, reads, denied=denied)


async def record_reads(
    conn: asyncpg.Connection, actor: Actor, reads: list[Read], *, denied: bool = False
) -> None:
    """The access records of `actor`'s reads (granted), or of their refused ones (denied)."""
    reader = Reader(actor.id, actor.role, actor.department)
    await record(conn, reader, reads, outcome="denied" if denied else "granted")


async def render(
    conn: asyncpg.Connection,
    ctx: Context,
    case: dict[str, Any],
    actor: Actor,
    *,
    recorded: bool = False,
    deadlines: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The case as `actor` may see it: every route that answers with a case answers through
    here. Someone who may not read it (`access.can_view`, the rule `GET` applies) gets only the
    receipt, its number and status: an idempotent repeat of an opening, or an opening whose case
    went to someone else, must not hand over the complaint that `GET` would refuse."""
    if not can_view(actor, case):
        return case_receipt(case)
    if not recorded:
        await record_case_reads(conn, actor, [case])
    if deadlines is None:
        deadlines = await repo.deadlines_of(conn, case["id"])
    view = case_view(
        case,
        deadlines,
        actor=actor,
        now=ctx.clock(),
        satisfaction_check_days=ctx.satisfaction_check_days,
    )
    return view if can_read_text(actor, case) else withhold_text(view)


async def run(
    conn: asyncpg.Connection, ctx: Context, actor: Actor, use_case: Any
) -> dict[str, Any]:
    """Run `use_case` in one transaction; a refusal becomes its HTTP answer, a case is
    rendered as `actor` may see it."""
    try:
        async with conn.transaction():
            case = await use_case()
    except REFUSALS as exc:
        raise _refusal(exc) from None
    return await render(conn, ctx, case, actor)


def cases_router(auth: TokenAuth) -> APIRouter:
    router = audited_router("/v1", "complaints")

    @router.post("/cases", status_code=status.HTTP_201_CREATED)
    async def open_a_case(
        body: OpenCase,
        request: Request,
        ctx: Ctx,
        principal: Annotated[Principal, Depends(auth.require(*STAFF, Role.INTEGRATION))],
    ) -> dict[str, Any]:
        actor = actor_of(principal)
        now = ctx.clock()
        given = opening_key(actor, body.external_id) if body.external_id else None
        complaint = body.complaint(now, external_id=given or f"desk-{uuid.uuid4()}")
        pool: asyncpg.Pool = request.app.state.runtime.pool
        # One connection at a time: the number comes from its own short transaction.
        async with pool.acquire() as conn:
            existing = await repo.case_by_external_id(
                conn, complaint.channel, complaint.external_id
            )
            if existing:
                return {"created": False, **await render(conn, ctx, existing, actor)}
        number = await ctx.allocate(case_day(ctx.policy, complaint, now))

        async def allocated(_: date) -> int:
            return number

        async with pool.acquire() as conn:
            async with conn.transaction():
                case, created = await open_case(
                    conn,
                    ctx.policy,
                    await ctx.rulebook.rules(conn),
                    complaint,
                    allocate=allocated,
                    actor=actor,
                    now=now,
                )
            return {"created": created, **await render(conn, ctx, case, actor)}

    @router.get("/cases")
    async def list_cases(
        conn: Conn,
        ctx: Ctx,
        principal: Annotated[Principal, Depends(auth.require(*READERS))],
        status_: Annotated[Status | None, Query(alias="status")] = None,
        category: Category | None = None,
        channel: str | None = None,
        priority: Priority | None = None,
        department: str | None = None,
        assignee: str | None = None,
        patient_id: str | None = None,
        overdue: bool | None = None,
        open_: Annotated[
            bool | None, Query(alias="open", description="not closed or withdrawn")
        ] = None,
        time_limit: Annotated[
            TimeLimitState | None,
            Query(description="a limit of the current cycle running past its warning or due time"),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        actor = actor_of(principal)
        filters = {
            "status": status_.value if status_ else None,
            "category": category.value if category else None,
            "channel": channel,
            "priority": priority.value if priority else None,
            "department_code": department,
            "assignee_id": assignee,
            "patient_id": patient_id,
            "overdue": overdue,
            "open": open_,
            "time_limit": time_limit.value if time_limit else None,
        }
        rows = await repo.list_cases(
            conn, filters=filters, visible_to=visibility(actor), limit=limit, offset=offset,
            now=ctx.clock(),
        )  # fmt: skip
        await record_case_reads(conn, actor, rows)
        # The time limits of every listed case in one statement, not one per case.
        limits = await repo.deadlines_of_cases(conn, [row["id"] for row in rows])
        return {
            "cases": [
                await render(conn, ctx, row, actor, recorded=True, deadlines=limits[row["id"]])
                for row in rows
            ]
        }

    async def visible_case(conn: asyncpg.Connection, number: str, actor: Actor) -> dict[str, Any]:
        case = await repo.case_by_number(conn, number)
        if case is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no case {number}")
        if not can_view(actor, case):
            await record_case_reads(conn, actor, [case], denied=True)
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"case {number} is not yours")
        return case

    @router.get("/cases/{number}")
    async def read_case(
        number: str,
        conn: Conn,
        ctx: Ctx,
        principal: Annotated[Principal, Depends(auth.require(*READERS))],
    ) -> dict[str, Any]:
        actor = actor_of(principal)
        return await render(conn, ctx, await visible_case(conn, number, actor), actor)

    @router.get("/cases/{number}/audit")
    async def read_audit(
        number: str,
        conn: Conn,
        principal: Annotated[Principal, Depends(auth.require(*READERS))],
    ) -> dict[str, Any]:
        actor = actor_of(principal)
        case = await visible_case(conn, number, actor)
        await record_case_reads(conn, actor, [case])
        audit = await repo.audit_of(conn, case["id"])
        if not can_read_text(actor, case):
            audit = withhold_notes(audit)
        return {"case_number": number, "audit": audit}

    @router.post("/cases/{number}/transitions")
    async def move_case(
        number: str,
        body: TransitionIn,
        conn: Conn,
        ctx: Ctx,
        principal: Annotated[Principal, Depends(auth.require(*WORKERS))],
    ) -> dict[str, Any]:
        actor = actor_of(principal)
        kind = body.resolution_kind.value if body.resolution_kind else None
        return await run(
            conn,
            ctx,
            actor,
            lambda: cases.transition(
                conn,
                ctx.policy,
                number,
                to=body.to,
                actor=actor,
                now=ctx.clock(),
                note=body.note,
                resolution=body.resolution,
                resolution_kind=kind,
            ),
        )

    @router.post("/cases/{number}/satisfaction")
    async def record_satisfaction(
        number: str,
        body: SatisfactionIn,
        conn: Conn,
        ctx: Ctx,
        principal: Annotated[Principal, Depends(auth.require(*STAFF))],
    ) -> dict[str, Any]:
        actor = actor_of(principal)
        return await run(
            conn,
            ctx,
            actor,
            lambda: cases.record_satisfaction(
                conn,
                ctx.policy,
                number,
                rating=body.rating,
                actor=actor,
                now=ctx.clock(),
                comment=body.comment,
            ),
        )

    @router.post("/cases/{number}/assignment")
    async def reassign(
        number: str,
        body: AssignmentIn,
        conn: Conn,
        ctx: Ctx,
        principal: Annotated[Principal, Depends(auth.require(Role.SUPERVISOR))],
    ) -> dict[str, Any]:
        actor = actor_of(principal)
        return await run(
            conn,
            ctx,
            actor,
            lambda: cases.reassign(
                conn, number, assignee_id=body.assignee_id, actor=actor, now=ctx.clock()
            ),
        )

    return router
