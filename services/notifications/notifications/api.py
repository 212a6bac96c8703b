"""Staff-facing HTTP routes over messages: a patient's or a staff member's message history, one
message, resending, and the staff inbox. Who may read what is `notifications.access`; what a
resend does is `notifications.message_cases`; each route parses, authorises, calls one use case
and answers a typed view, recording what it showed (hospital_shared.access_records)."""

import uuid
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from fastapi import Body, HTTPException, Query, Request
from pydantic import AwareDatetime, BaseModel, Field

from hospital_shared.access_records import Read, Reader, audited_router, record
from hospital_shared.auth import Principal
from hospital_shared.http_api import Conn, Page, PageQuery, PageRequest
from notifications import access, message_cases, repository
from notifications.domain import Status
from notifications.routes import (
    CONFLICT,
    Staff,
    Supervisor,
    message_after,
    message_position,
    refusals,
)
from notifications.views import MessageView

router = audited_router("/v1", "notifications")


class ResendIn(BaseModel):
    """A resend of a message the gateway accepted or may have accepted is refused (409)
    unless a supervisor overrides it, saying why (audited)."""

    override_duplicate_risk: bool = False
    reason: str | None = Field(default=None, min_length=10, max_length=500)


def view(request: Request, row: Mapping[str, Any], who: Principal) -> MessageView:
    desk = request.app.state.runtime.settings.complaint_desk_department
    shown = access.message_view(repository.opened_message(row), who, desk_department=desk)
    return MessageView.model_validate(shown)


def message_reads(rows: Iterable[Mapping[str, Any]]) -> list[Read]:
    """What an answer with these messages reads: those about a patient (the recipient's own
    staff notes are in their scope)."""
    return [
        Read(r["patient_id"], "message", str(r["id"]), assignee_id=r["staff_id"])
        for r in rows
        if r["patient_id"] is not None
    ]


async def _message_page(
    request: Request, conn: Any, who: Principal, page: PageRequest, **where: Any
) -> Page[MessageView]:
    """One page of the messages `where` selects (newest first), recorded as read."""
    rows = await repository.messages_of(
        conn, limit=page.limit + 1, after=message_after(page), **where
    )
    shown = rows[: page.limit]
    await record(conn, Reader.of(who), message_reads(shown))
    position = message_position(shown[-1] if len(rows) > page.limit else None)
    return page.page(request, [view(request, r, who) for r in shown], position)


@router.get("/messages", response_model=Page[MessageView])
async def list_messages(
    request: Request,
    conn: Conn,
    who: Staff,
    page: PageQuery,
    patient_id: str | None = None,
    staff_id: str | None = None,
    status: Status | None = None,
    since: Annotated[
        AwareDatetime | None,
        Query(description="finished then or later (created, while not finished)"),
    ] = None,
    deferred_reason: Annotated[
        str | None, Query(max_length=40, description="e.g. gateway_retry, quiet_hours")
    ] = None,
) -> Page[MessageView]:
    """A patient's messages (supervisors and operations), a staff member's notifications
    (their own; anyone's for supervisors and operations), or every patient's and staff
    member's in a status (supervisors and operations: what waits for the gateway, what
    failed since an outage began), the newest first."""
    if not patient_id and not staff_id and status is None:
        raise HTTPException(400, "give patient_id, staff_id or status")
    refusal = access.listing_refusal(who, patient_id=patient_id, staff_id=staff_id)
    if refusal:
        if patient_id or not staff_id:
            await record(conn, Reader.of(who), [Read(patient_id, "message", "*")], outcome="denied")
        raise HTTPException(403, refusal)
    return await _message_page(
        request, conn, who, page, patient_id=patient_id, staff_id=staff_id, status=status,
        since=since, deferred_reason=deferred_reason,
    )  # fmt: skip


@router.get("/messages/{message_id}", response_model=MessageView)
async def get_message(
    request: Request, conn: Conn, message_id: uuid.UUID, who: Staff
) -> MessageView:
    row = await repository.message(conn, message_id)
    if row is None:
        raise HTTPException(404, "no such message")
    refusal = access.read_refusal(who, row)
    await record(
        conn, Reader.of(who), message_reads([row]), outcome="denied" if refusal else "granted"
    )
    if refusal:
        raise HTTPException(403, refusal)
    return view(request, row, who)


@router.post(
    "/messages/{message_id}/resend", status_code=201, response_model=MessageView, responses=CONFLICT
)
async def resend(
    request: Request,
    conn: Conn,
    message_id: uuid.UUID,
    who: Supervisor,
    body: Annotated[ResendIn | None, Body()] = None,
) -> MessageView:
    """Send a failed or expired message again, as a new message (the answer)."""
    asked = body or ResendIn()
    with refusals():
        async with conn.transaction():
            new = await message_cases.resend(
                conn, message_id, by=who, override=asked.override_duplicate_risk,
                reason=asked.reason,
            )  # fmt: skip
            await record(conn, Reader.of(who), message_reads([new]))
    return view(request, new, who)


@router.get("/inbox", response_model=Page[MessageView])
async def inbox(request: Request, conn: Conn, who: Staff, page: PageQuery) -> Page[MessageView]:
    """The caller's own notes (the inbox channel), the newest first."""
    if not who.staff_id:
        raise HTTPException(403, "the inbox belongs to a staff member")
    return await _message_page(request, conn, who, page, staff_id=who.staff_id, channel="inbox")


class UnreadCount(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"unread": 3}]}}

    unread: int = Field(description="notes of the caller's inbox not yet read")


@router.get("/inbox/unread", response_model=UnreadCount)
async def unread_count(conn: Conn, who: Staff) -> UnreadCount:
    """How many notes of the caller's inbox are unread: the console's menu shows it on every
    page, so it is one indexed count (migration 180), no note read or opened."""
    if not who.staff_id:
        raise HTTPException(403, "the inbox belongs to a staff member")
    count = await conn.fetchval(
        "SELECT count(*) FROM messages WHERE staff_id = $1 AND channel = 'inbox'"
        " AND read_at IS NULL",
        who.staff_id,
    )
    return UnreadCount(unread=int(count))


@router.post("/inbox/{message_id}/read", response_model=MessageView)
async def mark_read(request: Request, conn: Conn, message_id: uuid.UUID, who: Staff) -> MessageView:
    with refusals():
        row = await message_cases.mark_read(conn, message_id, by=who)
    await record(conn, Reader.of(who), message_reads([row]))
    return view(request, row, who)
