"""HTTP routes: open, read, list and move complaint cases; the satisfaction check. Bearer
tokens with roles (http_deps.py); what a caller may see of a case is access.py's, what a step
does is the use cases' (cases.py, intake.py); the routes translate HTTP. Complaint data is
confidential: every answer with a case writes its access records."""

import uuid
from datetime import date, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import HTTPException, Query, Request, status

from complaints import cases, roster
from complaints import repository as repo
from complaints.access import (
    Actor,
    can_read_text,
    can_view,
    is_working,
    opening_key,
    visibility,
)
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
from complaints.http_deps import (
    CONFLICT,
    CaseReader,
    Context,
    Ctx,
    Staff,
    StaffOrSystem,
    Supervisor,
    Worker,
    actor_of,
)
from complaints.intake import case_day, check_submitted, open_case
from complaints.repository import TimeLimitState
from complaints.responses import (
    CaseAnswer,
    CaseAudit,
    CaseOut,
    CaseReceipt,
    OpenedCase,
    OpenedReceipt,
)
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
from hospital_shared.http_api import Conn, Page, PageQuery, PageRequest, Pool, position_id
from hospital_shared.problems import VERSION_MISMATCH


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
    if isinstance(exc, cases.StaleCase):
        return HTTPException(
            status.HTTP_409_CONFLICT,
            detail={
                "message": str(exc),
                "type": VERSION_MISMATCH,
                "current_status": exc.current_status,
                "current_version": exc.current_version,
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
) -> CaseAnswer:
    """The case as `actor` may see it: every route that answers with a case answers through
    here. Someone who may not read it (`access.can_view`, the rule `GET` applies) gets only the
    receipt, its number and status: an idempotent repeat of an opening, or an opening whose case
    went to someone else, must not hand over the complaint that `GET` would refuse."""
    if not can_view(actor, case):
        return CaseReceipt(**case_receipt(case))
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
    return CaseOut(**(view if can_read_text(actor, case) else withhold_text(view)))


async def run(conn: asyncpg.Connection, ctx: Context, actor: Actor, use_case: Any) -> CaseAnswer:
    """Run `use_case` in one transaction; a refusal becomes its HTTP answer, a case is
    rendered as `actor` may see it."""
    try:
        async with conn.transaction():
            # A member made inactive keeps no powers over cases, whatever their token (a
            # supervisor's department-wide ones included) while their session lasts.
            if await roster.made_inactive(conn, actor.id):
                raise NotPermitted(f"{actor.id} is inactive on the roster: they change no cases")
            case = await use_case()
    except REFUSALS as exc:
        raise _refusal(exc) from None
    return await render(conn, ctx, case, actor)


router = audited_router("/v1", "complaints")
KEYSET = frozenset({"opened_at", "id"})


async def open_at_desk(
    pool: asyncpg.Pool, ctx: Context, body: OpenCase, actor: Actor
) -> tuple[dict[str, Any], bool]:
    """Open the case a desk (or a hospital system) sends, once per external id: (the case,
    whether it is new). The number comes from its own short transaction, before the case's."""
    now = ctx.clock()
    given = opening_key(actor, body.external_id) if body.external_id else None
    complaint = body.complaint(now, external_id=given or f"desk-{uuid.uuid4()}")
    async with pool.acquire() as conn:
        existing = await repo.case_by_external_id(conn, complaint.channel, complaint.external_id)
    if existing:
        return existing, False
    try:
        check_submitted(ctx.policy, complaint, now)  # before a number is taken for it
    except InvalidField as exc:
        raise _refusal(exc) from None
    number = await ctx.allocate(case_day(ctx.policy, complaint, now))

    async def allocated(_: date) -> int:
        return number

    async with pool.acquire() as conn, conn.transaction():
        rules = await ctx.rulebook.rules(conn)
        return await open_case(
            conn, ctx.policy, rules, complaint, allocate=allocated, actor=actor, now=now
        )


@router.post(
    "/cases",
    status_code=status.HTTP_201_CREATED,
    response_model=OpenedCase | OpenedReceipt,
    responses=CONFLICT,
)
async def open_a_case(
    body: OpenCase, pool: Pool, ctx: Ctx, principal: StaffOrSystem
) -> OpenedCase | OpenedReceipt:
    actor = actor_of(principal)
    case, created = await open_at_desk(pool, ctx, body, actor)
    async with pool.acquire() as conn:
        shown = await render(conn, ctx, case, actor)
    kind = OpenedCase if isinstance(shown, CaseOut) else OpenedReceipt
    return kind(**shown.model_dump(), created=created)


def case_filters(
    status_: Status | None,
    category: Category | None,
    channel: str | None,
    priority: Priority | None,
    department: str | None,
    assignee: str | None,
    patient_id: str | None,
    overdue: bool | None,
    open_: bool | None,
    time_limit: TimeLimitState | None,
    director: str | None = None,
) -> dict[str, Any]:
    """The list's filters as the repository takes them (column -> value, None: any)."""
    return {
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
        "director_id": director,
    }


# Filters a receipt answers anyway (its number and status): a patient's list filtered by no
# more than these also shows, as receipts, the cases the caller may not read.
RECEIPT_FILTERS = frozenset({"patient_id", "status", "open"})


def scope_of(actor: Actor, filters: dict[str, Any]) -> dict[str, Any] | None:
    """Whose cases a list looks at. One patient's list (the call screen's) looks at all of
    theirs: someone about to call a patient must learn that a case they may not read is open
    (a medical dispute with the director), not be told there is none. Those rows are receipts
    (`render`); any filter a receipt would not answer keeps the list to the caller's cases, so
    that filtering cannot tell what a hidden case is about."""
    used = {column for column, value in filters.items() if value is not None}
    if filters["patient_id"] is not None and used <= RECEIPT_FILTERS:
        return None
    return visibility(actor)


def _before(page: PageRequest) -> tuple[datetime, int] | None:
    """Where a page of the newest-first list starts: before the (opened_at, id) of its cursor."""
    return page.read_position(
        KEYSET, lambda p: (datetime.fromisoformat(p["opened_at"]), position_id(p["id"]))
    )


@router.get("/cases", response_model=Page[CaseAnswer])
async def list_cases(
    request: Request,
    conn: Conn,
    ctx: Ctx,
    principal: CaseReader,
    page: PageQuery,
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
    director: Annotated[
        str | None, Query(description="escalated to this director (staff id)", max_length=64)
    ] = None,
) -> Page[CaseAnswer]:
    """The cases the caller may see, newest first, a page at a time (`next`). The filters are
    the route's own parameters: the guard (http_guard) checks those, not a dependency's. One
    patient's list also shows the cases the caller may not read, as receipts (`scope_of`)."""
    filters = case_filters(
        status_, category, channel, priority, department, assignee, patient_id, overdue, open_,
        time_limit, director,
    )  # fmt: skip
    actor = actor_of(principal)
    rows = await repo.list_cases(
        conn, filters=filters, visible_to=scope_of(actor, filters), limit=page.limit + 1,
        before=_before(page), now=ctx.clock(),
    )  # fmt: skip
    shown = rows[: page.limit]
    await record_case_reads(conn, actor, shown)
    # The time limits of every listed case in one statement, not one per case.
    limits = await repo.deadlines_of_cases(conn, [row["id"] for row in shown])
    items = [
        await render(conn, ctx, row, actor, recorded=True, deadlines=limits[row["id"]])
        for row in shown
    ]
    last = shown[-1] if len(rows) > page.limit else None
    position = {"opened_at": last["opened_at"].isoformat(), "id": last["id"]} if last else None
    return page.page(request, items, position)


async def visible_case(conn: asyncpg.Connection, number: str, actor: Actor) -> dict[str, Any]:
    """The case `actor` may read; 404 when there is none, 403 (on record) when not theirs."""
    case = await repo.case_by_number(conn, number)
    if case is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no case {number}")
    if not can_view(actor, case):
        await record_case_reads(conn, actor, [case], denied=True)
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"case {number} is not yours")
    return case


@router.get("/cases/{number}", response_model=CaseAnswer)
async def read_case(number: str, conn: Conn, ctx: Ctx, principal: CaseReader) -> CaseAnswer:
    actor = actor_of(principal)
    return await render(conn, ctx, await visible_case(conn, number, actor), actor)


@router.get("/cases/{number}/audit", response_model=CaseAudit)
async def read_audit(number: str, conn: Conn, principal: CaseReader) -> CaseAudit:
    actor = actor_of(principal)
    case = await visible_case(conn, number, actor)
    await record_case_reads(conn, actor, [case])
    audit = await repo.audit_of(conn, case["id"])
    if not can_read_text(actor, case):
        audit = withhold_notes(audit)
    return CaseAudit.model_validate({"case_number": number, "audit": audit})


@router.post("/cases/{number}/transitions", response_model=CaseAnswer, responses=CONFLICT)
async def move_case(
    number: str, body: TransitionIn, conn: Conn, ctx: Ctx, principal: Worker
) -> CaseAnswer:
    """One step of the case (`to`); a refused step is a 409 naming the steps allowed."""
    actor = actor_of(principal)
    kind = body.resolution_kind.value if body.resolution_kind else None
    return await run(conn, ctx, actor, lambda: cases.transition(
        conn, ctx.policy, number, to=body.to, actor=actor, now=ctx.clock(), note=body.note,
        resolution=body.resolution, resolution_kind=kind, expected_version=body.expected_version,
    ))  # fmt: skip


@router.post("/cases/{number}/satisfaction", response_model=CaseAnswer, responses=CONFLICT)
async def record_satisfaction(
    number: str, body: SatisfactionIn, conn: Conn, ctx: Ctx, principal: Staff
) -> CaseAnswer:
    actor = actor_of(principal)
    return await run(conn, ctx, actor, lambda: cases.record_satisfaction(
        conn, ctx.policy, number, rating=body.rating, actor=actor, now=ctx.clock(),
        comment=body.comment, expected_version=body.expected_version,
    ))  # fmt: skip


@router.post("/cases/{number}/assignment", response_model=CaseAnswer, responses=CONFLICT)
async def reassign(
    number: str, body: AssignmentIn, conn: Conn, ctx: Ctx, principal: Supervisor
) -> CaseAnswer:
    """Give the case to another handler: the case as it is then."""
    actor = actor_of(principal)
    return await run(conn, ctx, actor, lambda: cases.reassign(
        conn, number, assignee_id=body.assignee_id, actor=actor, now=ctx.clock(),
        expected_version=body.expected_version,
    ))  # fmt: skip
