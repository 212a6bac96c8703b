"""What staff do to messages, opt-outs and templates, out of the HTTP routes: each use case takes
a connection and the acting principal, writes its audit row in the caller's transaction, and
refuses with one of the errors of notifications.refusals, which the routes map to HTTP in one
place (notifications.routes).

`resend` was a 74-line route with five SQL statements and a `pg_notify` inside it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from hospital_shared.auth import Principal, Role
from notifications import domain, message_store, optouts, repository
from notifications.refusals import Conflict, Invalid, NotFound, Refused
from notifications.segments import count_segments
from notifications.templates import TemplateInvalid, check, urgency_refusal

# What a resend copies of the message it resends (the rest is the new message's own).
_RESENT = (
    "source_event_id", "source_event_type", "template", "audience", "channel", "patient_id",
    "staff_id", "subject_ref", "urgent", "body", "encoding", "segments",
)  # fmt: skip
OVERRIDE_HINT = (
    'To resend anyway, a supervisor sends {"override_duplicate_risk": true, "reason": "..."} '
    "(audited)."
)


def check_resend(row: Any, *, override: bool) -> None:
    """Conflict naming why, unless the message may be resent (`domain.resend_refusal`)."""
    refusal = domain.resend_refusal(
        row["status"], row["status_reason"], row["submitted_at"], row["channel"]
    )
    if refusal is None or (refusal.overridable and override):
        return
    if refusal.overridable:
        raise Conflict(f"not resent: {refusal.why}. {OVERRIDE_HINT}")
    raise Conflict(refusal.why)


async def resend(
    conn: asyncpg.Connection,
    message_id: uuid.UUID,
    *,
    by: Principal,
    override: bool = False,
    reason: str | None = None,
) -> dict[str, Any]:
    """A new message with the text of `message_id`, queued now, the dispatcher woken; the new
    message as read. Call inside a transaction: the original is locked until the commit, so
    two supervisors clicking at once make one resend."""
    if override and not reason:
        raise Invalid("reason", "say why the override is needed")
    row = await repository.message(conn, message_id, for_update=True)
    if row is None:
        raise NotFound("no such message")
    check_resend(row, override=override)
    counts = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE status IN ('pending', 'sending', 'submitted',"
        " 'delivered')) AS active, count(*) AS made FROM messages WHERE resend_of = $1",
        message_id,
    )
    if counts["active"]:
        raise Conflict("a resend of this message is already under way")
    new_id = uuid.uuid4()
    await message_store.insert_message(
        conn, id=new_id, idempotency_key=f"{row['idempotency_key']}:resend:{counts['made'] + 1}",
        status="pending", due_at=row["due_at"], send_after=datetime.now(UTC), expires_at=None,
        resend_of=message_id, **{k: row[k] for k in _RESENT},
    )  # fmt: skip
    detail = {
        "new_message_id": str(new_id), "previous_status": row["status"],
        "previous_reason": row["status_reason"], "override_duplicate_risk": override,
        "reason": reason,
    }  # fmt: skip
    await repository.audit(conn, actor=by, action="resend", target=str(message_id),
                           detail=json.dumps(detail, ensure_ascii=False))  # fmt: skip
    await conn.execute("SELECT pg_notify('notifications_dispatch', '')")
    new = await repository.message(conn, new_id)
    assert new is not None
    return new


async def mark_read(conn: asyncpg.Connection, message_id: uuid.UUID, *, by: Principal) -> Any:
    """The note of `by`'s inbox marked read (the first reading's time is kept)."""
    row = await conn.fetchrow(
        "UPDATE messages SET read_at = coalesce(read_at, now()) WHERE id = $1"
        " AND channel = 'inbox' AND staff_id = $2 RETURNING *",
        message_id,
        by.staff_id,
    )
    if row is None:
        raise NotFound("no such notification in your inbox")
    return row


async def add_opt_out(
    conn: asyncpg.Connection,
    *,
    by: Principal,
    patient_id: str | None,
    phone: str | None,
    reason: str | None,
) -> tuple[int, int]:
    """Record an opt-out (by patient, E.164 phone or both) and withdraw the SMS waiting for
    it; the opt-out's id and how many waiting messages it withdrew."""
    if not patient_id and not phone:
        raise Invalid("patient_id", "give patient_id or phone")
    opt_id = await repository.add_opt_out(
        conn, source="api", patient_id=patient_id, phone=phone, reason=reason,
        created_by=by.staff_id or by.role.value,
    )  # fmt: skip
    suppressed = await optouts.suppress_waiting(conn, patient_id=patient_id, phone=phone)
    await repository.audit(conn, actor=by, action="opt_out", target=patient_id or "phone",
                           detail=json.dumps({"opt_out_id": opt_id}))  # fmt: skip
    return opt_id, suppressed


async def revoke_opt_out(conn: asyncpg.Connection, opt_out_id: int, *, by: Principal) -> int:
    n = await repository.revoke_opt_outs(conn, ids=[opt_out_id], by=by.staff_id)
    if not n:
        raise NotFound("no such active opt-out")
    await repository.audit(conn, actor=by, action="opt_out_revoked", target=str(opt_out_id))
    return n


async def edit_template(
    conn: asyncpg.Connection,
    name: str,
    *,
    by: Principal,
    body: str,
    urgent: bool | None,
    send_to_deceased: bool | None,
    max_segments: int,
) -> tuple[Any, str]:
    """Save a template's new text (and flags); the saved row and the text rendered with sample
    values. A text that cannot be rendered, that is longer with the sample values than the
    gateway's longest SMS (`max_segments` parts), or an urgency the caller may not set, is
    refused."""
    try:
        preview = check(body, name)
    except TemplateInvalid as exc:
        raise Invalid("body", f"template cannot be rendered: {exc}") from None
    parts = count_segments(preview).segments
    if parts > max_segments:
        raise Invalid("body", f"template too long: {domain.too_long(parts, max_segments)}")
    current = await conn.fetchrow(
        "SELECT audience, urgent FROM templates WHERE name = $1 FOR UPDATE", name
    )
    if current is None:
        raise NotFound("no such template")
    refused = urgency_refusal(
        audience=current["audience"], urgent_now=current["urgent"], urgent_wanted=urgent,
        by_admin=by.role == Role.ADMIN,
    )  # fmt: skip
    if refused:
        status, why = refused
        raise (Refused(why) if status == 403 else Invalid("urgent", why))
    row = await conn.fetchrow(
        """UPDATE templates SET body = $2, urgent = coalesce($3, urgent),
             send_to_deceased = coalesce($4, send_to_deceased), updated_at = now(),
             updated_by = $5 WHERE name = $1 RETURNING *""",
        name, body, urgent, send_to_deceased, by.staff_id,
    )  # fmt: skip
    await repository.audit(conn, actor=by, action="template_edited", target=name,
                           detail=json.dumps({"body": body}, ensure_ascii=False))  # fmt: skip
    return row, preview
