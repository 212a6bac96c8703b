"""After a restore of the database from a backup: SMS the gateway already took are not sent
again.

A restore (`make restore`, tools/devstack/devstack/backup.py) takes the messages back to
the backup's instant. Those handed to the gateway between the backup and the loss are
`pending` again in the restored rows, or are planned again by the replay of the events that
followed (with the same id: `message_store.message_id`). The gateway cannot be asked to send
a message only once, so for `restore_gateway_check_s` after a restore (a row in `restores`)
every due message the dispatcher claims is first looked up in the gateway's own records (for
Kannel, bearerbox's access log, by message id: `providers.kannel_log`); one it shows as
sent is settled `submitted` with that reason, as the reconciler settles an interrupted
hand-over, and not sent. One it does not show is decided and sent as usual. And a message the
replay finished without handing it over (withdrawn by a cancellation, suppressed by an
opt-out that the replay brought in before it fell due this time) is looked up too, at each
reconciler pass: if the gateway took it before the loss, it is `submitted` after all.

What this cannot know: a message the gateway took but whose record is gone (the access log
rotated past its one kept predecessor) is sent again. And the delivery receipts of SMS
delivered before the loss do not come back: such a message stays `submitted` until it
expires as "no final delivery receipt".
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta

import asyncpg
import structlog

from notifications import reconciler, sending
from notifications.domain import GATEWAY_LOG_SENT
from notifications.lifecycle import publish_statuses
from notifications.providers import GatewayRecord, SmsProvider

log = structlog.get_logger(__name__)

# How often the `restores` table is looked at (a restore happens with the services stopped,
# so a fresh process sees it at its first claim).
_RECHECK_S = 30.0


class RestoreCheck:
    """Whether a restore was recent (and when), read at most every `_RECHECK_S`."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.restored_at: datetime | None = None
        self._read_at: float | None = None
        self.looked_up: set[str] = set()  # messages never handed, already looked up

    async def active(self, conn: asyncpg.Connection, now: datetime) -> bool:
        if self.window_s <= 0:
            return False
        if self._read_at is None or time.monotonic() - self._read_at > _RECHECK_S:
            self.restored_at = await conn.fetchval(
                "SELECT max(restored_at) FROM restores WHERE restored_at > $1",
                now - timedelta(seconds=self.window_s),
            )
            self._read_at = time.monotonic()
        return self.restored_at is not None


# Never handed over and finished since the restore: the replay may have withdrawn or
# suppressed a message (a cancellation or an opt-out replayed before it fell due) that the
# gateway took before the loss, when it was due first.
_FINISHED_UNHANDED = """
SELECT id FROM messages
 WHERE channel = 'sms' AND handed_at IS NULL AND updated_at >= $1
   AND status IN ('withdrawn', 'suppressed', 'expired', 'failed')
 LIMIT 5000
"""

_SENT_AFTER_ALL = """
UPDATE messages m SET status = 'submitted', status_reason = $3, handed_at = $2,
       submitted_at = coalesce(m.submitted_at, $2), finished_at = NULL,
       to_number = coalesce(m.to_number,
                            (SELECT p.phone FROM patients p WHERE p.patient_id = m.patient_id)),
       to_number_hash = coalesce(m.to_number_hash,
                        (SELECT p.phone_hash FROM patients p WHERE p.patient_id = m.patient_id)),
       updated_at = now()
 WHERE m.id = ANY($1::uuid[]) AND m.handed_at IS NULL
RETURNING m.*
"""


async def settle_finished_unhanded(
    pool: asyncpg.Pool, provider: SmsProvider, check: RestoreCheck, now: datetime
) -> int:
    """Messages finished without a hand-over since the restore that the gateway's records
    show as sent: `submitted` (it went, whatever the replay decided since); each message is
    looked up once per process. How many were settled."""
    if check.restored_at is None:
        return 0
    async with pool.acquire() as conn:
        rows = await conn.fetch(_FINISHED_UNHANDED, check.restored_at)
    ids = [str(r["id"]) for r in rows if str(r["id"]) not in check.looked_up]
    records = await reconciler.gateway_records(provider, ids)
    check.looked_up.update(ids)
    sent = [uuid.UUID(i) for i, r in records.items() if r == GatewayRecord.SENT]
    if not sent:
        return 0
    async with pool.acquire() as conn, conn.transaction():
        settled = await conn.fetch(_SENT_AFTER_ALL, sent, now, GATEWAY_LOG_SENT)
        await publish_statuses(conn, [(row, "submitted", None) for row in settled], now=now)
    log.warning("after a restore: SMS the replay finished unsent had gone before the loss",
                messages=len(settled))  # fmt: skip
    return len(settled)


async def settle_already_sent(
    conn: asyncpg.Connection,
    provider: SmsProvider,
    due: list[asyncpg.Record],
    now: datetime,
) -> list[asyncpg.Record]:
    """The due messages (locked by the claim, in its transaction) minus those the gateway's
    records show as sent, which are settled `submitted` instead, before any rule of the
    moment is applied to them: a message the gateway took went, whatever an opt-out that
    the replay brought in since would now say (module docstring)."""
    records = await reconciler.gateway_records(provider, [str(r["id"]) for r in due])
    sent = {i: r for i, r in records.items() if r == GatewayRecord.SENT}
    if not sent:
        return due
    phones = {str(r["id"]): r["phone"] for r in due}
    ids = [uuid.UUID(i) for i in sent]
    # `sending` as when it was handed over, then settled as an interrupted hand-over is
    await sending.mark_sending_many(conn, [(uuid.UUID(i), phones[i]) for i in sent], now)
    settled = await sending.settle_interrupted(conn, ids, now, sent)
    await publish_statuses(conn, [(row, "submitted", None) for row in settled], now=now)
    log.warning("after a restore: SMS the gateway already took were not sent again",
                messages=len(settled))  # fmt: skip
    return [r for r in due if str(r["id"]) not in sent]
