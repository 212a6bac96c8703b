"""HTTP routes of enquiries (咨询) and of praise and suggestions (表扬、建议).

A route parses, authorizes (roles here, ownership in the use case), calls one use case inside
a transaction and answers with the view the caller may see. Refusals map to 403/404/409 in
one place (`_refusal`); a bad body is a 422 naming the field.

Enquiries and feedback carry a patient's name, phone and words: every route answering with one
writes its access records (`hospital_shared.access_records`) on the connection it read with,
for what the caller sees in full; a refused `GET` of one is recorded as denied.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any

import asyncpg
from fastapi import HTTPException, Query, Request, Response, status

from complaints import enquiry_cases, feedback_cases
from complaints import enquiry_store as store
from complaints.access import Actor, can_view, opening_key, visibility
from complaints.api import case_read, record_reads, render
from complaints.enquiries import (
    EnquiryChannel,
    EnquiryRefused,
    EnquiryStatus,
    NotOwner,
    can_view_enquiry,
)
from complaints.enquiry_cases import NewEnquiry
from complaints.enquiry_views import (
    AnswerIn,
    ConvertIn,
    FeedbackIn,
    HandOverIn,
    SuggestionAnswerIn,
    TakeEnquiry,
    enquiry_view,
    feedback_view,
)
from complaints.feedback import FeedbackKind, FeedbackRefused
from complaints.feedback_cases import can_view_feedback
from complaints.http_deps import (
    CONFLICT,
    Context,
    Ctx,
    ECtx,
    Staff,
    StaffOrOperations,
    StaffOrSystem,
    actor_of,
)
from complaints.responses import (
    Converted,
    EnquiryAnswer,
    EnquiryOut,
    EnquiryReceipt,
    FeedbackAnswer,
    FeedbackOut,
    FeedbackReceipt,
)
from hospital_shared.access_records import Read, audited_router
from hospital_shared.auth import Principal
from hospital_shared.http_api import Conn, Page, PageQuery, PageRequest, Pool, position_id
from hospital_shared.vocabulary import LimitState

Row = store.Row

_STATUS = {
    EnquiryRefused: status.HTTP_409_CONFLICT,
    FeedbackRefused: status.HTTP_409_CONFLICT,
    enquiry_cases.UnknownStaff: status.HTTP_409_CONFLICT,
    enquiry_cases.InactiveTaker: status.HTTP_403_FORBIDDEN,
    enquiry_cases.NotAnEnquiryOwner: status.HTTP_422_UNPROCESSABLE_CONTENT,
    NotOwner: status.HTTP_403_FORBIDDEN,
    feedback_cases.NotPermitted: status.HTTP_403_FORBIDDEN,
    feedback_cases.UnknownPraisedStaff: status.HTTP_422_UNPROCESSABLE_CONTENT,
    enquiry_cases.EnquiryNotFound: status.HTTP_404_NOT_FOUND,
    feedback_cases.FeedbackNotFound: status.HTTP_404_NOT_FOUND,
}
REFUSALS = tuple(_STATUS)


# Refusals of one field of the body: a 422 naming it, as a bad value of it is.
_FIELD = {enquiry_cases.NotAnEnquiryOwner: "to", feedback_cases.UnknownPraisedStaff: "staff_id"}


def _refusal(exc: Exception) -> HTTPException:
    code = _STATUS[type(exc)]
    if (field := _FIELD.get(type(exc))) is not None:
        error = {"loc": ["body", field], "msg": str(exc), "type": "value_error"}
        return HTTPException(code, detail=[error])
    detail = f"no such {str(exc)!r}" if code == status.HTTP_404_NOT_FOUND else str(exc)
    return HTTPException(code, detail=detail)


async def _in_transaction(conn: asyncpg.Connection, use_case: Callable[[], Awaitable[Any]]) -> Any:
    try:
        async with conn.transaction():
            return await use_case()
    except REFUSALS as exc:
        raise _refusal(exc) from None


def enquiry_read(row: Row, actor: Actor) -> Read:
    """An enquiry as an access record sees it: in the actor's scope when they own, took or
    supervise it, or it is their department's (asked about or owning)."""
    owning = row["owner_department"]
    department = owning if owning and owning == actor.department else row["department_code"]
    mine = actor.id in (row["owner_id"], row["taken_by"], row["supervisor_id"])
    return Read(
        row["patient_id"], "enquiry", row["enquiry_number"],
        department=department, assignee_id=actor.id if mine else row["owner_id"],
    )  # fmt: skip


def feedback_read(row: Row, actor: Actor) -> Read:
    """Praise or a suggestion as an access record sees it: in scope when the actor recorded it
    (or is the one praised), or it is their department's."""
    mine = actor.id in (row["recorded_by"], row["staff_id"])
    return Read(
        row["patient_id"], "feedback", row["feedback_number"],
        department=row["department_code"], assignee_id=actor.id if mine else row["recorded_by"],
    )  # fmt: skip


async def record_enquiry_reads(
    conn: asyncpg.Connection, actor: Actor, rows: list[Row], *, denied: bool = False
) -> None:
    """The access records of an answer with these enquiries (those `actor` sees in full)."""
    reads = [enquiry_read(r, actor) for r in rows if denied or can_view_enquiry(actor, r)]
    await record_reads(conn, actor, reads, denied=denied)


async def record_feedback_reads(
    conn: asyncpg.Connection, actor: Actor, rows: list[Row], *, denied: bool = False
) -> None:
    """The access records of an answer with this feedback (what `actor` sees in full)."""
    reads = [feedback_read(r, actor) for r in rows if denied or can_view_feedback(actor, r)]
    await record_reads(conn, actor, reads, denied=denied)


async def _read_one(conn: asyncpg.Connection, actor: Actor, kind: str, number: str) -> Row:
    """The enquiry or feedback (`kind`) numbered `number`, its read recorded: 404 when there is
    none, 403 (the read recorded as denied) when `actor` may not see it."""
    table, may_view, record = {
        "enquiry": ("enquiries", can_view_enquiry, record_enquiry_reads),
        "feedback": ("feedback", can_view_feedback, record_feedback_reads),
    }[kind]
    row = await store.by_number(conn, table, number)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no {kind} {number}")
    if not may_view(actor, row):
        await record(conn, actor, [row], denied=True)
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"{kind} {number} is not yours")
    await record(conn, actor, [row])
    return row


def _typed_enquiry(view: dict[str, Any]) -> EnquiryAnswer:
    return EnquiryReceipt(**view) if view.get("redacted") else EnquiryOut(**view)


def _typed_feedback(view: dict[str, Any]) -> FeedbackAnswer:
    return FeedbackReceipt(**view) if view.get("redacted") else FeedbackOut(**view)


def _before(page: PageRequest) -> int | None:
    """Where a page of a newest-first list starts: before the id its cursor names."""
    return page.read_position({"id"}, lambda p: position_id(p["id"]))


def _last(rows: list[Row], page: PageRequest) -> dict[str, Any] | None:
    return {"id": rows[page.limit - 1]["id"]} if len(rows) > page.limit else None


enquiries = audited_router("/v1", "enquiries")


async def _once(
    conn: asyncpg.Connection,
    table: str,
    key: str | None,
    response: Response,
    record: Callable[[], Awaitable[Row]],
) -> Row:
    """`record()` in a transaction, unless something was recorded under `key` (the caller's
    `external_id`) already: then that, answered 200 instead of 201."""

    async def once() -> Row:
        if key is not None and (existing := await store.by_external_id(conn, table, key)):
            response.status_code = status.HTTP_200_OK
            return existing
        return await record()

    row: Row = await _in_transaction(conn, once)
    return row


def _repeat(what: str, model: Any) -> dict[int | str, dict[str, Any]]:
    return {
        200: {"model": model, "description": f"the {what} recorded before under this external_id"}
    }


@enquiries.post(
    "/enquiries",
    status_code=status.HTTP_201_CREATED,
    response_model=EnquiryAnswer,
    responses=_repeat("enquiry", EnquiryAnswer),
)
async def take_an_enquiry(
    body: TakeEnquiry, response: Response, conn: Conn, ctx: Ctx, ectx: ECtx, principal: Staff
) -> EnquiryAnswer:
    actor, now = actor_of(principal), ctx.clock()
    key = opening_key(actor, body.external_id) if body.external_id else None
    new = NewEnquiry(
        channel=body.channel,
        question=body.question,
        complex_=body.complex,
        taken_at=body.taken_at or now,
        department_code=body.department.code if body.department else None,
        patient_id=body.patient.patient_id if body.patient else None,
        patient_name=body.patient.name if body.patient else None,
        patient_phone=body.patient.phone if body.patient else None,
        external_id=key,
    )
    row = await _once(
        conn, "enquiries", key, response,
        lambda: enquiry_cases.take(conn, ectx.enquiries, new, actor=actor, now=now),
    )  # fmt: skip
    await record_enquiry_reads(conn, actor, [row])
    return _typed_enquiry(enquiry_view(row, None, actor=actor, now=now))


@enquiries.get("/enquiries", response_model=Page[EnquiryAnswer])
async def list_enquiries(
    request: Request,
    conn: Conn,
    ctx: Ctx,
    principal: StaffOrOperations,
    page: PageQuery,
    status_: Annotated[EnquiryStatus | None, Query(alias="status")] = None,
    channel: EnquiryChannel | None = None,
    owner: str | None = None,
    department: str | None = None,
    time_limit: Annotated[
        LimitState | None,
        Query(description="the open ones whose time limit is running, in warning or breached"),
    ] = None,
) -> Page[EnquiryAnswer]:
    """The enquiries the caller may see, newest first, a page at a time."""
    actor = actor_of(principal)
    in_state = (time_limit, ctx.clock()) if time_limit else None
    filters = {"status": status_.value if status_ else None,
               "channel": channel.value if channel else None,
               "owner_id": owner, "department_code": department}  # fmt: skip
    rows = await store.listed(
        conn, "enquiries", filters=filters, visible_to=visibility(actor),
        people=("owner_id", "taken_by", "supervisor_id"),
        departments=("department_code", "owner_department"),
        limit=page.limit + 1, before=_before(page), limit_state=in_state,
    )  # fmt: skip
    shown = rows[: page.limit]
    await record_enquiry_reads(conn, actor, shown)
    items = [_typed_enquiry(enquiry_view(r, None, actor=actor, now=ctx.clock())) for r in shown]
    return page.page(request, items, _last(rows, page))


@enquiries.get("/enquiries/{number}", response_model=EnquiryAnswer)
async def read_enquiry(
    number: str, conn: Conn, ctx: Ctx, principal: StaffOrOperations
) -> EnquiryAnswer:
    actor = actor_of(principal)
    row = await _read_one(conn, actor, "enquiry", number)
    history = await store.history_of(conn, row["id"])
    return _typed_enquiry(enquiry_view(row, history, actor=actor, now=ctx.clock()))


@enquiries.post("/enquiries/{number}/handover", response_model=EnquiryAnswer, responses=CONFLICT)
async def hand_over(
    number: str, body: HandOverIn, conn: Conn, ctx: Ctx, ectx: ECtx, principal: Staff
) -> EnquiryAnswer:
    actor, now = actor_of(principal), ctx.clock()
    row = await _in_transaction(conn, lambda: enquiry_cases.hand_over(
        conn, ectx.enquiries, number, to=body.to, reason=body.reason, actor=actor, now=now
    ))  # fmt: skip
    await record_enquiry_reads(conn, actor, [row])
    return _typed_enquiry(enquiry_view(row, None, actor=actor, now=now))


@enquiries.post("/enquiries/{number}/answer", response_model=EnquiryAnswer, responses=CONFLICT)
async def answer(
    number: str, body: AnswerIn, conn: Conn, ctx: Ctx, principal: Staff
) -> EnquiryAnswer:
    actor, now = actor_of(principal), ctx.clock()
    row = await _in_transaction(
        conn, lambda: enquiry_cases.answer(conn, number, text=body.answer, actor=actor, now=now)
    )
    await record_enquiry_reads(conn, actor, [row])
    return _typed_enquiry(enquiry_view(row, None, actor=actor, now=now))


@enquiries.post(
    "/enquiries/{number}/complaint",
    status_code=status.HTTP_201_CREATED,
    response_model=Converted,
    responses=CONFLICT,
)
async def convert(
    number: str, body: ConvertIn, pool: Pool, ctx: Ctx, principal: Staff
) -> Converted:
    return await _convert(pool, ctx, number, body, principal)


async def _convert(
    pool: asyncpg.Pool, ctx: Context, number: str, body: ConvertIn, principal: Principal
) -> Converted:
    """The case number comes from its own short transaction before the conversion's, as a desk
    opening's does (a refused conversion skips that number; numbers are never reused)."""
    actor, now = actor_of(principal), ctx.clock()
    async with pool.acquire() as conn:
        row = await store.by_number(conn, "enquiries", number)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no enquiry {number}")
        rules = await ctx.rulebook.rules(conn)
    sequence = await ctx.allocate(now.astimezone(ctx.policy.tz).date())

    async def allocated(_: date) -> int:
        return sequence

    async with pool.acquire() as conn:
        enquiry, case = await _in_transaction(conn, lambda: enquiry_cases.convert(
            conn, ctx.policy, rules, number, note=body.note, allocate=allocated, actor=actor,
            now=now,
        ))  # fmt: skip
        # One statement for both: the enquiry and the case it became (a row for each kind).
        reads = [enquiry_read(enquiry, actor)] if can_view_enquiry(actor, enquiry) else []
        if can_view(actor, case):
            reads.append(case_read(case, actor))
        await record_reads(conn, actor, reads)
        return Converted(
            enquiry=_typed_enquiry(enquiry_view(enquiry, None, actor=actor, now=now)),
            case=await render(conn, ctx, case, actor, recorded=True),
        )


feedback = audited_router("/v1", "feedback")


@feedback.post(
    "/feedback",
    status_code=status.HTTP_201_CREATED,
    response_model=FeedbackAnswer,
    responses=_repeat("feedback", FeedbackAnswer),
)
async def record_feedback(
    body: FeedbackIn, response: Response, conn: Conn, ctx: Ctx, ectx: ECtx, principal: StaffOrSystem
) -> FeedbackAnswer:
    actor, now = actor_of(principal), ctx.clock()
    key = opening_key(actor, body.external_id) if body.external_id else None
    new = body.feedback(now, external_id=key)
    row = await _once(
        conn, "feedback", key, response,
        lambda: feedback_cases.record(conn, ectx.feedback, new, actor=actor, now=now),
    )  # fmt: skip
    await record_feedback_reads(conn, actor, [row])
    return _typed_feedback(feedback_view(row, actor=actor))


@feedback.get("/feedback", response_model=Page[FeedbackAnswer])
async def list_feedback(
    request: Request,
    conn: Conn,
    principal: StaffOrOperations,
    page: PageQuery,
    kind: FeedbackKind | None = None,
    department: str | None = None,
) -> Page[FeedbackAnswer]:
    """Praise and suggestions the caller may see, newest first, a page at a time."""
    actor = actor_of(principal)
    rows = await store.listed(
        conn, "feedback",
        filters={"kind": kind.value if kind else None, "department_code": department},
        visible_to=visibility(actor), people=("recorded_by", "staff_id"),
        departments=("department_code",), limit=page.limit + 1, before=_before(page),
    )  # fmt: skip
    shown = rows[: page.limit]
    await record_feedback_reads(conn, actor, shown)
    items = [_typed_feedback(feedback_view(r, actor=actor)) for r in shown]
    return page.page(request, items, _last(rows, page))


@feedback.get("/feedback/{number}", response_model=FeedbackAnswer)
async def read_feedback(number: str, conn: Conn, principal: StaffOrOperations) -> FeedbackAnswer:
    """One piece of praise or a suggestion, as `GET /v1/enquiries/{number}` reads an enquiry:
    a refused read is recorded as denied."""
    actor = actor_of(principal)
    row = await _read_one(conn, actor, "feedback", number)
    return _typed_feedback(feedback_view(row, actor=actor))


@feedback.post("/feedback/{number}/answer", response_model=FeedbackAnswer, responses=CONFLICT)
async def answer_suggestion(
    number: str, body: SuggestionAnswerIn, conn: Conn, ctx: Ctx, principal: Staff
) -> FeedbackAnswer:
    actor, now = actor_of(principal), ctx.clock()
    row = await _in_transaction(conn, lambda: feedback_cases.answer_suggestion(
        conn, number, text=body.answer, outcome=body.outcome, actor=actor, now=now
    ))  # fmt: skip
    await record_feedback_reads(conn, actor, [row])
    return _typed_feedback(feedback_view(row, actor=actor))
