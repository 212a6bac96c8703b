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
hand-over, and not sent. One it does not show is decided and sent as usual.

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
from notifications.lifecycle import publish_statuses
from notifications.providers import GatewayRecord, SmsProvider

log = structlog.get_logger(__name__)

# How often the `restores` table is looked at (a restore happens with the services stopped,
# so a fresh process sees it at its first claim).
_RECHECK_S = 30.0


class RestoreCheck:
    """Whether a restore was recent, read at most every `_RECHECK_S`."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._active = False
        self._read_at: float | None = None

    async def active(self, conn: asyncpg.Connection, now: datetime) -> bool:
        if self.window_s <= 0:
            return False
        if self._read_at is None or time.monotonic() - self._read_at > _RECHECK_S:
            self._active = bool(
                await conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM restores WHERE restored_at > $1)",
                    now - timedelta(seconds=self.window_s),
                )
            )
            self._read_at = time.monotonic()
        return self._active


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
