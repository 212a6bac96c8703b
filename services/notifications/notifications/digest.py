"""The digest: at each digest time, the routine assignments waiting for it become ONE message
per staff member and channel, which the dispatchers then send like any other.

Safe with several instances: each (staff member, channel, slot) group is built in one
transaction that locks its waiting notes with `FOR UPDATE SKIP LOCKED` (a second instance
finds them locked and skips them), and the digest's idempotency key
`digest:<staff>:<channel>:<slot>` makes it once per staff member per slot even so. A note that
turns up for a slot whose digest already went (it committed a moment too late) waits for the
next slot. A note withdrawn before the slot (task closed, case withdrawn) is simply not in it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
import structlog
from prometheus_client import Counter

from hospital_shared.field_crypto import open_, seal
from notifications import message_store
from notifications.handlers import Clock
from notifications.segments import count_segments
from notifications.staff_policy import StaffRules, digest_context, next_digest_slot
from notifications.templates import TemplateInvalid, render

log = structlog.get_logger(__name__)

DIGESTS = Counter("notifications_digests_total", "Digests built", ["channel"])

DIGEST_TEMPLATE = "staff_digest"

_DUE_GROUPS = """
SELECT DISTINCT staff_id, channel, digest_slot FROM messages
 WHERE status = 'pending' AND digest_slot IS NOT NULL AND digest_slot <= $1
 LIMIT $2
"""
_LOCK_GROUP = """
SELECT id, body FROM messages
 WHERE status = 'pending' AND staff_id = $1 AND channel = $2 AND digest_slot = $3
 ORDER BY created_at, id
   FOR UPDATE SKIP LOCKED
"""


class DigestJob:
    def __init__(
        self,
        pool: asyncpg.Pool,
        rules: StaffRules,
        clock: Clock,
        *,
        max_items: int = 20,
        sms_max_segments: int = 10,
    ) -> None:
        self.pool = pool
        self.rules = rules
        self.clock = clock
        self.max_items = max_items
        self.sms_max_segments = sms_max_segments

    async def run_once(self) -> int:
        """Build every digest whose slot has come; the number built."""
        now = self.clock()
        async with self.pool.acquire() as conn:
            groups = await conn.fetch(_DUE_GROUPS, now, 500)
        built = 0
        for g in groups:
            built += await self.build(g["staff_id"], g["channel"], g["digest_slot"], now)
        return built

    async def build(self, staff_id: str, channel: str, slot: datetime, now: datetime) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            notes = await conn.fetch(_LOCK_GROUP, staff_id, channel, slot)
            if not notes:
                return 0  # another instance has them
            ids = [n["id"] for n in notes]
            digest_id = await self._insert_digest(conn, staff_id, channel, slot, notes, now)
            if digest_id is None:  # this slot's digest already went: wait for the next one
                later = next_digest_slot(now, self.rules.times_for(channel), self.rules.tz)
                await conn.execute(
                    "UPDATE messages SET digest_slot = $2, send_after = $2, updated_at = now()"
                    " WHERE id = ANY($1::uuid[])",
                    ids,
                    later,
                )
                return 0
            await conn.execute(
                """UPDATE messages SET status = 'digested', digest_id = $2, finished_at = $3,
                     updated_at = now() WHERE id = ANY($1::uuid[])""",
                ids,
                digest_id,
                now,
            )
            await conn.execute("SELECT pg_notify('notifications_dispatch', '')")
        DIGESTS.labels(channel).inc()
        return 1

    def _fitting(self, template: str, bodies: list[str], channel: str) -> str:
        """The digest of `bodies`: at most `max_items` notes, and by SMS only as many as fit
        the gateway's longest SMS (the rest counted in "and N more"; one note at least)."""
        shown = self.max_items
        body = render(template, digest_context(bodies, shown))
        while (
            channel == "sms" and shown > 1 and count_segments(body).segments > self.sms_max_segments
        ):
            shown -= 1
            body = render(template, digest_context(bodies, shown))
        return body

    async def _insert_digest(
        self,
        conn: asyncpg.Connection,
        staff_id: str,
        channel: str,
        slot: datetime,
        notes: list[asyncpg.Record],
        now: datetime,
    ) -> uuid.UUID | None:
        body_template = await conn.fetchval(
            "SELECT body FROM templates WHERE name = $1", DIGEST_TEMPLATE
        )
        status, reason = "pending", None
        try:
            body = self._fitting(
                body_template or "", [open_(n["body"]) or "" for n in notes], channel
            )
        except TemplateInvalid as exc:
            body, status, reason = "", "failed", f"template_error: {exc}"
        send_after = now
        if channel in self.rules.quiet_hours_channels:
            send_after = self.rules.quiet_hours.next_allowed(now, self.rules.tz)
        segments = count_segments(body)
        key = f"digest:{staff_id}:{channel}:{slot.isoformat()}"
        fields: dict[str, Any] = {
            "id": message_store.message_id(key),  # the same when a restore makes it again
            "idempotency_key": key,
            "source_event_id": f"digest:{slot.isoformat()}",
            "source_event_type": "notifications.digest",
            "template": DIGEST_TEMPLATE,
            "audience": "staff",
            "channel": channel,
            "staff_id": staff_id,
            "body": body,
            "encoding": segments.encoding,
            "segments": segments.segments,
            "status": status,
            "status_reason": reason,
            "due_at": slot,
            "send_after": send_after,
            "deferred_reason": "quiet_hours" if send_after > now else None,
        }
        fields["body"] = seal(body)
        columns = ", ".join(fields)
        values = ", ".join(f"${i}" for i in range(1, len(fields) + 1))
        digest_id: uuid.UUID | None = await conn.fetchval(
            f"INSERT INTO messages ({columns}) VALUES ({values})"
            " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
            *fields.values(),
        )
        return digest_id
