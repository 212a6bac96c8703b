"""SQL of the dispatcher: claiming due messages and recording what the gateway said."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from hospital_shared.field_crypto import open_fields, seal, search_hash
from notifications.domain import (
    GATEWAY_LOG_REFUSED,
    GATEWAY_LOG_SENT,
    OUTCOME_UNKNOWN,
    Defer,
    Status,
    local_day_bounds,
)
from notifications.providers import GatewayRecord, SendResult
from notifications.repository import opened_message

# Urgent messages first (a breach alert must not queue behind a backlog of reminders), then
# in the order they fell due (index messages_due_sms_urgent_first).
_DUE = """
SELECT m.id, m.audience, m.urgent, m.expires_at, m.patient_id, m.staff_id, m.template,
       m.segments, coalesce(t.send_to_deceased, false) AS send_to_deceased,
       CASE WHEN m.audience = 'staff' THEN s.phone ELSE p.phone END AS phone,
       coalesce(p.deceased, false) AND m.audience = 'patient' AS deceased,
       m.audience = 'staff' AND NOT coalesce(s.active, true) AS staff_inactive,
       m.audience = 'patient' AND (
           coalesce(p.sms_opt_out, false)
           OR EXISTS (SELECT 1 FROM opt_outs o WHERE o.revoked_at IS NULL
                      AND (o.patient_id = m.patient_id
                           OR o.phone_hash = p.phone_hash OR o.phone_hash = m.to_number_hash
                           -- rows from before encryption, until the re-seal job hashed them
                           OR o.phone = p.phone OR o.phone = m.to_number))) AS opted_out
  FROM messages m
  LEFT JOIN patients p ON p.patient_id = m.patient_id
  LEFT JOIN staff s ON s.staff_id = m.staff_id
  LEFT JOIN templates t ON t.name = m.template
 WHERE m.status = 'pending' AND m.channel = 'sms' AND m.send_after <= $1
   AND m.digest_slot IS NULL
 ORDER BY m.urgent DESC, m.send_after
 LIMIT $2
   FOR UPDATE OF m SKIP LOCKED
"""


async def lock_due(conn: asyncpg.Connection, now: datetime, limit: int) -> list[dict[str, Any]]:
    """The due SMS, locked, with the recipient's phone opened."""
    return [open_fields(r, ("phone",)) for r in await conn.fetch(_DUE, now, limit)]


async def handed_today(
    conn: asyncpg.Connection, patient_ids: Sequence[str], now: datetime, tz: ZoneInfo
) -> dict[str, int]:
    if not patient_ids:
        return {}
    start, end = local_day_bounds(now, tz)
    rows = await conn.fetch(
        """SELECT patient_id, count(*) AS n FROM messages
            WHERE patient_id = ANY($1::text[]) AND audience = 'patient' AND channel = 'sms'
              AND NOT urgent AND handed_at >= $2 AND handed_at < $3
            GROUP BY patient_id""",
        list(patient_ids),
        start,
        end,
    )
    return {r["patient_id"]: r["n"] for r in rows}


async def lock_caps(conn: asyncpg.Connection, patient_ids: Sequence[str]) -> None:
    """Serialise the daily cap of these patients across instances (until commit); in one
    round trip, always in the same (sorted) order so that two instances cannot deadlock."""
    await conn.execute(
        """SELECT pg_advisory_xact_lock(hashtext('notifications-cap:' || pid))
             FROM (SELECT pid FROM unnest($1::text[]) AS pid ORDER BY pid) AS sorted""",
        sorted(patient_ids),
    )


async def mark_sending_many(
    conn: asyncpg.Connection, sends: Sequence[tuple[uuid.UUID, str]], now: datetime
) -> list[asyncpg.Record]:
    """`mark_sending` for many (id, to_number) pairs in one statement."""
    if not sends:
        return []
    rows = await conn.fetch(
        """UPDATE messages m SET status = 'sending', to_number = u.to_number,
             to_number_hash = u.to_number_hash,
             sending_since = $3, handed_at = $3, attempts = m.attempts + 1, updated_at = now()
           FROM unnest($1::uuid[], $2::text[], $4::text[]) AS u(id, to_number, to_number_hash)
           WHERE m.id = u.id RETURNING m.*""",
        [i for i, _ in sends],
        [seal(n) for _, n in sends],
        now,
        [search_hash(n) for _, n in sends],
    )
    return [opened_message(r) for r in rows]


async def defer_many(conn: asyncpg.Connection, defers: Sequence[tuple[uuid.UUID, Defer]]) -> None:
    if not defers:
        return
    await conn.execute(
        """UPDATE messages m SET send_after = u.until, deferred_reason = u.reason,
             updated_at = now()
           FROM unnest($1::uuid[], $2::timestamptz[], $3::text[]) AS u(id, until, reason)
           WHERE m.id = u.id""",
        [i for i, _ in defers],
        [d.until for _, d in defers],
        [d.reason for _, d in defers],
    )


async def finish(
    conn: asyncpg.Connection, message_id: uuid.UUID, status: Status, reason: str, now: datetime
) -> asyncpg.Record:
    (row,) = await finish_many(conn, [(message_id, status, reason)], now)
    return row


async def finish_many(
    conn: asyncpg.Connection,
    stops: Sequence[tuple[uuid.UUID, Status, str]],
    now: datetime,
) -> list[asyncpg.Record]:
    """Give these messages their final (status, reason) in one statement; the rows, in the
    order given."""
    if not stops:
        return []
    rows = await conn.fetch(
        """UPDATE messages m SET status = u.status, status_reason = u.reason, finished_at = $4,
             updated_at = now()
           FROM unnest($1::uuid[], $2::text[], $3::text[]) AS u(id, status, reason)
           WHERE m.id = u.id RETURNING m.*""",
        [i for i, _, _ in stops],
        [s.value for _, s, _ in stops],
        [r for _, _, r in stops],
        now,
    )
    order = {i: n for n, (i, _, _) in enumerate(stops)}
    return sorted(rows, key=lambda r: order[r["id"]])


async def lock_in_order(conn: asyncpg.Connection, ids: Sequence[uuid.UUID]) -> None:
    """Lock these messages' rows in id order, the order every write of many takes them in."""
    if ids:
        await conn.execute(
            "SELECT 1 FROM messages WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE", list(ids)
        )


async def accepted_many(
    conn: asyncpg.Connection,
    results: Sequence[tuple[uuid.UUID, SendResult, datetime]],
    provider: str,
) -> list[asyncpg.Record]:
    """Record the gateway's acceptance of these (id, answer, when it answered): the rows for
    which it is news (not recorded before).

    A receipt may have been faster than us (Kannel reports delivery within milliseconds): it
    set `submitted_at` and moved the status on, which stays; this adds the gateway's reference.
    A message settled as outcome unknown meanwhile is `submitted` after all.
    """
    if not results:
        return []
    return await conn.fetch(
        """UPDATE messages m SET
             status = CASE WHEN m.status = 'sending' OR m.status_reason = $5 THEN 'submitted'
                           ELSE m.status END,
             status_reason = CASE WHEN m.status_reason = $5 THEN NULL ELSE m.status_reason END,
             finished_at = CASE WHEN m.status_reason = $5 THEN NULL ELSE m.finished_at END,
             submitted_at = coalesce(m.submitted_at, u.at), provider = $4, provider_ref = u.ref,
             last_error = NULL, updated_at = now()
           FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS u(id, ref, at)
           WHERE m.id = u.id AND m.provider IS NULL
             AND m.status IN ('sending', 'delivered', 'submitted', 'failed')
           RETURNING m.*""",
        [i for i, _, _ in results],
        [r.provider_ref for _, r, _ in results],
        [at for _, _, at in results],
        provider,
        OUTCOME_UNKNOWN,
    )


async def retry_later(
    conn: asyncpg.Connection, message_id: uuid.UUID, at: datetime, error: str, *, answered: bool
) -> None:
    """Back to `pending` until `at`; `answered`: the error was the gateway's (or server's)
    answer, counted in `answered_errors` (retries.py)."""
    await conn.execute(
        """UPDATE messages SET status = 'pending', send_after = $2, deferred_reason = 'gateway_retry',
             last_error = $3, handed_at = NULL, sending_since = NULL, updated_at = now(),
             answered_errors = answered_errors + $4::int
           WHERE id = $1 AND status = 'sending'""",
        message_id,
        at,
        error,
        int(answered),
    )


async def note_error(conn: asyncpg.Connection, message_id: uuid.UUID, error: str) -> None:
    await conn.execute(
        "UPDATE messages SET last_error = $2, updated_at = now() WHERE id = $1", message_id, error
    )


async def fail_after_send(
    conn: asyncpg.Connection,
    message_id: uuid.UUID,
    reason: str,
    now: datetime,
    *,
    answered: bool = False,
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """UPDATE messages SET status = 'failed', status_reason = $2, last_error = $2,
             handed_at = NULL, finished_at = $3, updated_at = now(),
             answered_errors = answered_errors + $4::int
           WHERE id = $1 AND status = 'sending' RETURNING *""",
        message_id,
        reason,
        now,
        int(answered),
    )


async def interrupted(
    conn: asyncpg.Connection,
    stale_before: datetime,
    limit: int = 1000,
    *,
    channels: Sequence[str] | None = None,
) -> list[uuid.UUID]:
    """Messages `sending` since before `stale_before`: their sender died (or lost the answer);
    of `channels` only when given."""
    rows = await conn.fetch(
        "SELECT id FROM messages WHERE status = 'sending' AND sending_since < $1"
        " AND ($3::text[] IS NULL OR channel = ANY($3::text[])) LIMIT $2",
        stale_before,
        limit,
        None if channels is None else list(channels),
    )
    return [r["id"] for r in rows]


async def settle_interrupted(
    conn: asyncpg.Connection,
    ids: Sequence[uuid.UUID],
    now: datetime,
    records: Mapping[str, GatewayRecord],
) -> list[asyncpg.Record]:
    """Settle these interrupted messages (those still `sending`) by the gateway's `records`:
    sent -> `submitted` (since it was handed over), refused -> `failed`, no record ->
    `failed` with `outcome_unknown`. None is ever sent again from here."""
    if not ids:
        return []
    sent = [uuid.UUID(i) for i, r in records.items() if r == GatewayRecord.SENT]
    refused = [uuid.UUID(i) for i, r in records.items() if r == GatewayRecord.REFUSED]
    return await conn.fetch(
        """UPDATE messages SET
             status = CASE WHEN id = ANY($3::uuid[]) THEN 'submitted' ELSE 'failed' END,
             status_reason = CASE WHEN id = ANY($3::uuid[]) THEN $5
                                  WHEN id = ANY($4::uuid[]) THEN $6 ELSE $7 END,
             submitted_at = CASE WHEN id = ANY($3::uuid[]) THEN sending_since
                                 ELSE submitted_at END,
             finished_at = CASE WHEN id = ANY($3::uuid[]) THEN NULL ELSE $2::timestamptz END,
             updated_at = now()
           WHERE id = ANY($1::uuid[]) AND status = 'sending' RETURNING *""",
        list(ids),
        now,
        sent,
        refused,
        GATEWAY_LOG_SENT,
        GATEWAY_LOG_REFUSED,
        OUTCOME_UNKNOWN,
    )


async def count_unsettled(
    conn: asyncpg.Connection, receipt_overdue_before: datetime
) -> tuple[int, int]:
    """(SMS failed as outcome unknown, SMS submitted before `receipt_overdue_before` still
    without a final receipt); both counts use a partial index."""
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE status = 'failed') AS unknown,
                  count(*) FILTER (WHERE status = 'submitted') AS overdue
             FROM messages
            WHERE (status = 'failed' AND status_reason = $1)
               OR (status = 'submitted' AND submitted_at < $2)""",
        OUTCOME_UNKNOWN,
        receipt_overdue_before,
    )
    return row["unknown"], row["overdue"]


async def count_waiting_for_gateway(conn: asyncpg.Connection) -> dict[str, int]:
    """Messages `pending` again because their gateway or server did not take their last
    hand-over (retries.py), by channel (sms, email, webhook); from a partial index, empty but
    during an outage."""
    rows = await conn.fetch(
        "SELECT channel, count(*) AS n FROM messages WHERE status = 'pending'"
        " AND deferred_reason = 'gateway_retry' GROUP BY channel"
    )
    return {r["channel"]: r["n"] for r in rows}


async def list_unsettled(
    conn: asyncpg.Connection,
    receipt_overdue_before: datetime,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> list[asyncpg.Record]:
    """The messages `count_unsettled` counts, the newest first (created_at, then id), those
    after `after` (the previous page's last) when given; no number or text."""
    at, last_id = after if after is not None else (None, None)
    return await conn.fetch(
        """SELECT id, patient_id, staff_id, template, status, status_reason, handed_at,
                  submitted_at, created_at
             FROM messages
            WHERE ((status = 'failed' AND status_reason = $1)
                   OR (status = 'submitted' AND submitted_at < $2))
              AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5::uuid))
            ORDER BY created_at DESC, id DESC LIMIT $3""",
        OUTCOME_UNKNOWN,
        receipt_overdue_before,
        limit,
        at,
        last_id,
    )


async def expire(
    conn: asyncpg.Connection, now: datetime, receipt_before: datetime, limit: int = 1000
) -> list[asyncpg.Record]:
    """Expire up to `limit` messages whose time passed (the rest at the next call), skipping
    those a dispatcher holds: a huge backlog is worked off in bounded steps."""
    return await conn.fetch(
        """UPDATE messages SET status = 'expired', finished_at = $1, updated_at = now(),
             status_reason = CASE WHEN status = 'pending'
               THEN 'its time passed before it could be sent'
               ELSE 'no final delivery receipt' END
           WHERE id IN (
             SELECT id FROM messages
              WHERE (status = 'pending' AND channel = 'sms' AND expires_at <= $1)
                 OR (status = 'submitted' AND submitted_at < $2)
              LIMIT $3 FOR UPDATE SKIP LOCKED)
           RETURNING *""",
        now,
        receipt_before,
        limit,
    )
