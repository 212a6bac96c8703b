"""Staff-facing HTTP routes: message history, resending, opt-outs, templates, the inbox."""

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Body, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from hospital_shared.access_records import Read, Reader, audited_router, record
from hospital_shared.auth import Principal, Role, TokenAuth
from notifications import access, domain, message_store, optouts, repository
from notifications.templates import TemplateInvalid, check, urgency_refusal


class OptOutIn(BaseModel):
    patient_id: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=32)
    reason: str | None = Field(default=None, max_length=200)


class ResendIn(BaseModel):
    """A resend of a message the gateway accepted or may have accepted is refused (409)
    unless a supervisor overrides it, saying why (audited)."""

    override_duplicate_risk: bool = False
    reason: str | None = Field(default=None, min_length=10, max_length=500)


class TemplateIn(BaseModel):
    body: str = Field(min_length=1, max_length=2000)
    urgent: bool | None = None
    send_to_deceased: bool | None = None


def _view(request: Request, row: Mapping[str, Any], who: Principal) -> dict[str, Any]:
    desk = request.app.state.runtime.settings.complaint_desk_department
    return access.message_view(repository.opened_message(row), who, desk_department=desk)


def message_reads(rows: Any) -> list[Read]:
    """What an answer with these messages reads: those about a patient (the recipient's own
    staff notes are in their scope)."""
    return [
        Read(r["patient_id"], "message", str(r["id"]), assignee_id=r["staff_id"])
        for r in rows
        if r["patient_id"] is not None
    ]


def build_router(auth: TokenAuth) -> APIRouter:
    router = audited_router("/v1", "notifications")
    staff = auth.require(Role.AGENT, Role.DOCTOR, Role.SUPERVISOR, Role.DIRECTOR, Role.ADMIN)
    managers = auth.require(Role.SUPERVISOR, Role.ADMIN)
    StaffUser = Annotated[Principal, Depends(staff)]
    Manager = Annotated[Principal, Depends(managers)]

    def pool(request: Request) -> asyncpg.Pool:
        return request.app.state.runtime.pool

    @router.get("/messages")
    async def list_messages(
        request: Request, who: StaffUser, patient_id: str | None = None, staff_id: str | None = None
    ) -> list[dict[str, Any]]:
        if not patient_id and not staff_id:
            raise HTTPException(400, "give patient_id or staff_id")
        refusal = access.listing_refusal(who, patient_id=patient_id, staff_id=staff_id)
        if refusal:
            if patient_id:
                async with pool(request).acquire() as conn:
                    denied = [Read(patient_id, "message", "*")]
                    await record(conn, Reader.of(who), denied, outcome="denied")
            raise HTTPException(403, refusal)
        async with pool(request).acquire() as conn:
            rows = await repository.messages_of(conn, patient_id=patient_id, staff_id=staff_id)
            await record(conn, Reader.of(who), message_reads(rows))
        return [_view(request, r, who) for r in rows]

    @router.get("/messages/{message_id}")
    async def get_message(
        request: Request, message_id: uuid.UUID, who: StaffUser
    ) -> dict[str, Any]:
        async with pool(request).acquire() as conn:
            row = await repository.message(conn, message_id)
            if row is not None:
                allowed = access.may_read(who, row)  # the list's rule
                await record(
                    conn,
                    Reader.of(who),
                    message_reads([row]),
                    outcome="granted" if allowed else "denied",
                )
        if row is None:
            raise HTTPException(404, "no such message")
        if not access.may_read(who, row):  # the list's rule
            raise HTTPException(403, "staff may only see their own notifications")
        return _view(request, row, who)

    @router.post("/messages/{message_id}/resend", status_code=201)
    async def resend(
        request: Request,
        message_id: uuid.UUID,
        who: Annotated[Principal, Depends(auth.require(Role.SUPERVISOR))],
        body: Annotated[ResendIn | None, Body()] = None,
    ) -> dict[str, Any]:
        override = body or ResendIn()
        if override.override_duplicate_risk and not override.reason:
            raise HTTPException(422, "reason: say why the override is needed")
        async with pool(request).acquire() as conn, conn.transaction():
            row = await repository.message(conn, message_id, for_update=True)
            if row is None:
                raise HTTPException(404, "no such message")
            _check_resend(row, override)
            active = await conn.fetchval(
                "SELECT count(*) FROM messages WHERE resend_of = $1"
                " AND status IN ('pending', 'sending', 'submitted', 'delivered')",
                message_id,
            )
            if active:
                raise HTTPException(409, "a resend of this message is already under way")
            n = await conn.fetchval(
                "SELECT count(*) FROM messages WHERE resend_of = $1", message_id
            )
            new_id = uuid.uuid4()
            copied = {
                k: row[k]
                for k in (
                    "source_event_id",
                    "source_event_type",
                    "template",
                    "audience",
                    "channel",
                    "patient_id",
                    "staff_id",
                    "subject_ref",
                    "urgent",
                    "body",
                    "encoding",
                    "segments",
                )
            }
            await message_store.insert_message(
                conn,
                id=new_id,
                idempotency_key=f"{row['idempotency_key']}:resend:{n + 1}",
                status="pending",
                due_at=row["due_at"],
                send_after=datetime.now(UTC),
                expires_at=None,
                resend_of=message_id,
                **copied,
            )
            await repository.audit(
                conn,
                actor=who,
                action="resend",
                target=str(message_id),
                detail=json.dumps(
                    {
                        "new_message_id": str(new_id),
                        "previous_status": row["status"],
                        "previous_reason": row["status_reason"],
                        "override_duplicate_risk": override.override_duplicate_risk,
                        "reason": override.reason,
                    },
                    ensure_ascii=False,
                ),
            )
            await conn.execute("SELECT pg_notify('notifications_dispatch', '')")
            new = await repository.message(conn, new_id)
            await record(conn, Reader.of(who), message_reads([new]))
        assert new is not None
        return _view(request, new, who)

    @router.get("/opt-outs")
    async def list_opt_outs(
        request: Request, who: StaffUser, patient_id: str | None = None, phone: str | None = None
    ) -> list[dict[str, Any]]:
        refusal = access.patient_history_refusal(who)  # recording one (POST) is for all staff
        e164 = _e164_or_400(phone, request) if phone else None
        async with pool(request).acquire() as conn:
            if refusal:  # recorded as denied, like a refused message listing
                denied = [Read(patient_id, "opt_out", "*")]
                await record(conn, Reader.of(who), denied, outcome="denied")
                raise HTTPException(403, refusal)
            rows = await repository.list_opt_outs(conn, patient_id=patient_id, phone=e164)
            opt_outs = [Read(r["patient_id"], "opt_out", str(r["id"])) for r in rows]
            await record(conn, Reader.of(who), opt_outs)
        return [
            {
                **dict(r),
                "phone": domain.mask_phone(r["phone"]) if who.role != Role.ADMIN else r["phone"],
            }
            for r in rows
        ]

    @router.post("/opt-outs", status_code=201)
    async def add_opt_out(
        request: Request,
        body: OptOutIn,
        who: Annotated[
            Principal,
            Depends(
                auth.require(Role.AGENT, Role.DOCTOR, Role.SUPERVISOR, Role.ADMIN, Role.INTEGRATION)
            ),
        ],
    ) -> dict[str, Any]:
        if not body.patient_id and not body.phone:
            raise HTTPException(422, "give patient_id or phone")
        e164 = _e164_or_400(body.phone, request) if body.phone else None
        async with pool(request).acquire() as conn, conn.transaction():
            opt_id = await repository.add_opt_out(
                conn,
                source="api",
                patient_id=body.patient_id,
                phone=e164,
                reason=body.reason,
                created_by=who.staff_id or who.role.value,
            )
            suppressed = await optouts.suppress_waiting(
                conn, patient_id=body.patient_id, phone=e164
            )
            await repository.audit(
                conn,
                actor=who,
                action="opt_out",
                target=body.patient_id or "phone",
                detail=json.dumps({"opt_out_id": opt_id}),
            )
        return {"id": opt_id, "suppressed_messages": suppressed}

    @router.delete("/opt-outs/{opt_out_id}")
    async def revoke_opt_out(request: Request, opt_out_id: int, who: Manager) -> dict[str, Any]:
        async with pool(request).acquire() as conn, conn.transaction():
            n = await repository.revoke_opt_outs(conn, ids=[opt_out_id], by=who.staff_id)
            if not n:
                raise HTTPException(404, "no such active opt-out")
            await repository.audit(
                conn, actor=who, action="opt_out_revoked", target=str(opt_out_id)
            )
        return {"revoked": n}

    @router.get("/templates")
    async def list_templates(request: Request, _: StaffUser) -> list[dict[str, Any]]:
        async with pool(request).acquire() as conn:
            return [dict(r) for r in (await repository.load_templates(conn)).values()]

    @router.put("/templates/{name}")
    async def edit_template(
        request: Request, name: str, body: TemplateIn, who: Manager
    ) -> dict[str, Any]:
        try:
            preview = check(body.body)
        except TemplateInvalid as exc:
            raise HTTPException(422, f"template cannot be rendered: {exc}") from None
        async with pool(request).acquire() as conn, conn.transaction():
            current = await conn.fetchrow(
                "SELECT audience, urgent FROM templates WHERE name = $1 FOR UPDATE", name
            )
            if current is None:
                raise HTTPException(404, "no such template")
            refused = urgency_refusal(
                audience=current["audience"], urgent_now=current["urgent"],
                urgent_wanted=body.urgent, by_admin=who.role == Role.ADMIN,
            )  # fmt: skip
            if refused:
                raise HTTPException(*refused)
            row = await conn.fetchrow(
                """UPDATE templates SET body = $2, urgent = coalesce($3, urgent),
                     send_to_deceased = coalesce($4, send_to_deceased), updated_at = now(),
                     updated_by = $5 WHERE name = $1 RETURNING *""",
                name,
                body.body,
                body.urgent,
                body.send_to_deceased,
                who.staff_id,
            )
            await repository.audit(
                conn,
                actor=who,
                action="template_edited",
                target=name,
                detail=json.dumps({"body": body.body}, ensure_ascii=False),
            )
        return {**dict(row), "preview": preview}

    @router.get("/inbox")
    async def inbox(request: Request, who: StaffUser) -> list[dict[str, Any]]:
        if not who.staff_id:
            raise HTTPException(403, "the inbox belongs to a staff member")
        async with pool(request).acquire() as conn:
            rows = await repository.messages_of(conn, staff_id=who.staff_id, channel="inbox")
            await record(conn, Reader.of(who), message_reads(rows))
        return [_view(request, r, who) for r in rows]

    @router.get("/inbox/unread")
    async def unread_count(request: Request, who: StaffUser) -> dict[str, int]:
        """How many notes of the caller's inbox are unread: the console's menu shows it on
        every page, so it is one indexed count (migration 180), no note read or opened."""
        if not who.staff_id:
            raise HTTPException(403, "the inbox belongs to a staff member")
        async with pool(request).acquire() as conn:
            count = await conn.fetchval(
                "SELECT count(*) FROM messages WHERE staff_id = $1 AND channel = 'inbox'"
                " AND read_at IS NULL",
                who.staff_id,
            )
        return {"unread": int(count)}

    @router.post("/inbox/{message_id}/read")
    async def mark_read(request: Request, message_id: uuid.UUID, who: StaffUser) -> dict[str, Any]:
        async with pool(request).acquire() as conn:
            row = await conn.fetchrow(
                "UPDATE messages SET read_at = coalesce(read_at, now()) WHERE id = $1"
                " AND channel = 'inbox' AND staff_id = $2 RETURNING *",
                message_id,
                who.staff_id,
            )
            if row is not None:
                await record(conn, Reader.of(who), message_reads([row]))
        if row is None:
            raise HTTPException(404, "no such notification in your inbox")
        return _view(request, row, who)

    return router


def _check_resend(row: asyncpg.Record, override: ResendIn) -> None:
    """409 naming why, unless the message may be resent (`domain.resend_refusal`)."""
    refusal = domain.resend_refusal(
        row["status"], row["status_reason"], row["submitted_at"], row["channel"]
    )
    if refusal is None or (refusal.overridable and override.override_duplicate_risk):
        return
    if refusal.overridable:
        raise HTTPException(
            409,
            f"not resent: {refusal.why}. To resend anyway, a supervisor sends "
            '{"override_duplicate_risk": true, "reason": "..."} (audited).',
        )
    raise HTTPException(409, refusal.why)


def _e164_or_400(phone: str | None, request: Request) -> str:
    try:
        return domain.normalise_phone(phone, request.app.state.runtime.settings.phone_region)
    except domain.InvalidPhone as exc:
        raise HTTPException(422, f"phone: {exc}") from None
