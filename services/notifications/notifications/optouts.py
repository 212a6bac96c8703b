"""Opt-outs: what a reply means, and suppressing what waits for someone who opted out."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime

import asyncpg

from hospital_shared.field_crypto import search_hash
from notifications import repository
from notifications.lifecycle import publish_status


def _normalise(text: str) -> str:
    kept = (c for c in unicodedata.normalize("NFKC", text) if unicodedata.category(c)[0] in "LN")
    return "".join(kept).upper()


def classify_reply(text: str, opt_out: Iterable[str], opt_in: Iterable[str]) -> str:
    """`opt_out`, `opt_in` or `none` for an incoming SMS text ("stop!", " 退订 " ...)."""
    words = _normalise(text)
    if words in {_normalise(k) for k in opt_out}:
        return "opt_out"
    if words in {_normalise(k) for k in opt_in}:
        return "opt_in"
    return "none"


async def suppress_waiting(
    conn: asyncpg.Connection, *, patient_id: str | None = None, phone: str | None = None
) -> int:
    """Messages still waiting for this patient (or number) will not go: suppressed now."""
    now = datetime.now(UTC)
    rows = await conn.fetch(
        f"""UPDATE messages m SET status = 'suppressed', status_reason = 'opted_out',
             finished_at = $3, updated_at = now()
           WHERE m.status = 'pending' AND m.channel = 'sms' AND m.audience = 'patient'
             AND (m.patient_id = $1 OR m.patient_id IN (
                   SELECT patient_id FROM patients
                    WHERE $2::text IS NOT NULL AND {repository.same_phone("$2", "$4")}))
           RETURNING m.*""",
        patient_id,
        phone,
        now,
        search_hash(phone),
    )
    for row in rows:
        await publish_status(conn, row, "suppressed", now=now, reason="opted_out")
    return len(rows)


async def record_reply(conn: asyncpg.Connection, *, phone: str, text: str, action: str) -> None:
    await repository.record_inbound(conn, phone, text, action)
    if action == "opt_out":
        await repository.add_opt_out(conn, source="sms_reply", phone=phone, reason=text[:100])
        await suppress_waiting(conn, phone=phone)
    elif action == "opt_in":
        await repository.revoke_opt_outs(conn, phone=phone, by="sms_reply")
