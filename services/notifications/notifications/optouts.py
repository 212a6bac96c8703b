"""Opt-outs: what a reply means, and suppressing what waits for someone who opted out."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import asyncpg

from hospital_shared.events import CloudEvent
from hospital_shared.field_crypto import open_, search_hash
from hospital_shared.patient_merge import resolve_patients
from hospital_shared.vocabulary import EventName
from notifications import repository
from notifications.lifecycle import publish_status

# The traditional characters of the opt-out and opt-in words (退訂, 取消訂閱, 訂閱), as a
# handset set to traditional Chinese sends them (Hong Kong, Macao, Taiwan patients): the
# simplified words match them.
_SIMPLIFIED = str.maketrans({"訂": "订", "閱": "阅"})


def _normalise(text: str) -> str:
    kept = (c for c in unicodedata.normalize("NFKC", text) if unicodedata.category(c)[0] in "LN")
    return "".join(kept).upper().translate(_SIMPLIFIED)


# A short reply that holds an opt-out word (请退订, 退订谢谢, STOP PLEASE) opts out too: at most
# this many letters and digits, punctuation and spaces left out. Only words of two Chinese
# characters or more, or four letters or more: `T` and `TD` are found in anything.
SHORT_REPLY = 16
# A reply that says not to (不要退订, 别退订, DONT STOP) is not an opt-out.
_NEGATIONS = ("不", "别", "勿", "DONT", "NOT")


def classify_reply(text: str, opt_out: Iterable[str], opt_in: Iterable[str]) -> str:
    """`opt_out`, `opt_in` or `none` for an incoming SMS text ("stop!", " 退订 ", "请退订"):
    exactly one of the words; or, for an opt-out, a short reply holding a long enough word
    and no negation (the patient's wish to hear no more is not lost on a 请). An opt-in must
    be exactly its word: it sends messages again."""
    words = _normalise(text)
    out = {_normalise(k) for k in opt_out}
    if words in out:
        return "opt_out"
    if words in {_normalise(k) for k in opt_in}:
        return "opt_in"
    if len(words) <= SHORT_REPLY and not any(n in words for n in _NEGATIONS):
        if any(_distinctive(k) and k in words for k in out):
            return "opt_out"
    return "none"


def _distinctive(word: str) -> bool:
    """A word found inside a reply only when it is meant: two Chinese characters or more,
    or four letters or more."""
    return len(word) >= 4 or (len(word) >= 2 and not word.isascii())


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
    elif action == "opt_in":  # what a reply did, not what staff recorded (a supervisor's)
        await repository.revoke_opt_outs(conn, phone=phone, by="sms_reply", replies_only=True)


_REPLAY_RECORDED = """
INSERT INTO opt_outs (ref, patient_id, phone, phone_hash, source, reason, created_by, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (ref) DO NOTHING RETURNING id
"""


async def replay(conn: asyncpg.Connection, event: CloudEvent[Any]) -> None:
    """An opt-out event read back (`optout_events`): written if this database lacks it (a
    restore from a backup taken before it), and the SMS waiting for that patient or number
    suppressed as when it was made; a withdrawal applied to its opt-out if still active.
    Nothing where the database has it already: the normal case."""
    data = event.data
    if event.type == EventName.OPT_OUT_REVOKED:
        await conn.execute(
            "UPDATE opt_outs SET revoked_at = $2, revoked_by = $3"
            " WHERE ref = $1::uuid AND revoked_at IS NULL",
            data.opt_out_ref, data.revoked_at, data.revoked_by,
        )  # fmt: skip
        return
    if event.type != EventName.OPT_OUT_RECORDED:
        return
    # Under the surviving id of a patient merged (ADT^A40) meanwhile: after a restore the merge
    # may be read back before the opt-out (two consumers), and the merge's move of `opt_outs`
    # would then have left this one under the merged id, the survivor texted.
    [event] = await resolve_patients(conn, [event])
    data = event.data
    written = await conn.fetchval(
        _REPLAY_RECORDED, data.opt_out_ref, data.patient_id, data.phone_sealed,
        data.phone_hash, data.source, data.reason_sealed, data.created_by, data.created_at,
    )  # fmt: skip
    if written is not None:
        await suppress_waiting(conn, patient_id=data.patient_id, phone=open_(data.phone_sealed))
