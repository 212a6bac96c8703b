"""The staff dispatcher: hands due email and webhook notes to their sender, safely with
several instances. The same three steps as the SMS dispatcher (`dispatcher.py`): claim
(`FOR UPDATE SKIP LOCKED`, re-check, mark `sending`, commit), send, record. Also AT MOST ONCE:
a note is re-sent only when the server certainly did not take it; one left `sending` by a
crash is failed as `outcome_unknown` by the SMS dispatcher's reconciler (it covers every
channel). An accepted email or robot post is `delivered`: neither has delivery receipts.
Not taken, a note is tried again by the SMS rule (retries.py): while its server cannot be
reached, until it expires."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg
from prometheus_client import Counter

from notifications import retries, sending
from notifications.channels import RobotTarget, StaffNote, StaffSender
from notifications.domain import STAFF_INACTIVE, Defer, Status
from notifications.handlers import Clock
from notifications.providers import Outcome, SendResult
from notifications.repository import opened_message
from notifications.staff_policy import subject_of

HANDED = Counter(
    "notifications_staff_handed_total", "Staff notes handed to a channel", ["channel", "outcome"]
)

_DUE = """
SELECT m.id, m.channel, m.template, m.body, m.attempts, m.expires_at, m.staff_id,
       m.due_at, m.created_at, m.answered_errors,
       s.email, s.phone AS staff_phone, coalesce(s.active, true) AS staff_active,
       w.id AS webhook_id, w.flavour, w.url AS webhook_url, w.msgtype, w.secret, w.mention,
       w.staff_id AS webhook_staff_id
  FROM messages m
  LEFT JOIN staff s ON s.staff_id = m.staff_id
  LEFT JOIN LATERAL (
       SELECT * FROM staff_webhooks w
        WHERE m.channel = 'webhook' AND w.active
          AND (w.staff_id = m.staff_id OR w.department_code = s.department_code)
        ORDER BY w.staff_id IS NOT NULL DESC LIMIT 1) w ON true
 WHERE m.status = 'pending' AND m.channel IN ('email', 'webhook') AND m.digest_slot IS NULL
   AND m.send_after <= $1
 ORDER BY m.send_after
 LIMIT $2
   FOR UPDATE OF m SKIP LOCKED
"""


def note_for(row: Mapping[str, Any], hospital: str) -> StaffNote | str:
    """The note to hand over, or why it cannot go."""
    subject = subject_of(row["body"], "notification")
    if row["channel"] == "email":
        if not row["email"]:
            return "no email address on file"
        subject = f"{subject} - {hospital}"
        return StaffNote(str(row["id"]), subject, row["body"], email=row["email"])
    if row["webhook_id"] is None:
        return "no webhook for the staff member or their department"
    phone = (row["staff_phone"] or "").removeprefix("+86")
    mention = bool(row["mention"] and phone and row["webhook_staff_id"] is None)
    robot = RobotTarget(
        flavour=row["flavour"],
        url=row["webhook_url"],
        msgtype=row["msgtype"],
        secret=row["secret"],
        mention_mobiles=(phone,) if mention else (),
    )
    return StaffNote(str(row["id"]), subject, row["body"], robot=robot)


def address_of(note: StaffNote, row: Mapping[str, Any]) -> str:
    if note.email:
        return note.email
    return f"{row['flavour']} webhook #{row['webhook_id']}"  # never the URL: it holds the key


class StaffDispatcher:
    def __init__(
        self,
        pool: asyncpg.Pool,
        senders: Mapping[str, StaffSender],
        settings: Any,
        clock: Clock,
    ) -> None:
        self.pool = pool
        self.senders = senders  # channel -> sender; a channel without one is not set up
        self.settings = settings
        self.clock = clock
        for channel in senders:  # every series at 0: StaffChannelFailing counts increase()
            for outcome in Outcome:
                HANDED.labels(channel, outcome.value)

    async def dispatch_once(self) -> int:
        """One pass; what it took (sent or finished), so that the loop passes again at once
        while messages are due, even when a pass finished all it took and sent none."""
        claimed, taken = await self.claim()
        await asyncio.gather(*(self._send_and_record(row, note) for row, note in claimed))
        return taken

    async def claim(self) -> tuple[list[tuple[asyncpg.Record, StaffNote]], int]:
        """The due messages to send, now `sending`, and how many due ones were taken."""
        now = self.clock()
        claimed: list[tuple[asyncpg.Record, StaffNote]] = []
        async with self.pool.acquire() as conn, conn.transaction():
            due = await conn.fetch(_DUE, now, self.settings.dispatch_batch_size)
            for row in map(opened_message, due):
                stop = self._stop(row, now)
                if stop is not None:
                    await sending.finish(conn, row["id"], stop[0], stop[1], now)
                    continue
                note = note_for(row, self.settings.hospital_name)
                if isinstance(note, str):
                    await sending.finish(conn, row["id"], Status.FAILED, note, now)
                    continue
                await conn.execute(
                    """UPDATE messages SET status = 'sending', sending_since = $2, to_address = $3,
                         attempts = attempts + 1, updated_at = now() WHERE id = $1""",
                    row["id"],
                    now,
                    address_of(note, row),
                )
                claimed.append((row, note))
        return claimed, len(due)

    def _stop(self, row: asyncpg.Record, now: datetime) -> tuple[Status, str] | None:
        if row["expires_at"] is not None and now >= row["expires_at"]:
            return Status.EXPIRED, "its time passed before it could be sent"
        if not row["staff_active"]:
            return Status.SUPPRESSED, STAFF_INACTIVE
        if row["channel"] not in self.senders:
            return Status.FAILED, f"{row['channel']} is not set up"
        return None

    async def _send_and_record(self, row: asyncpg.Record, note: StaffNote) -> None:
        sender = self.senders[row["channel"]]
        try:
            result = await sender.send(note)
        except Exception as exc:  # a sender bug: unknown, never resend blindly
            result = SendResult(Outcome.UNKNOWN, f"sender error: {type(exc).__name__}")
        HANDED.labels(row["channel"], result.outcome.value).inc()
        await self._record(row, sender.name, result)

    async def _record(self, row: asyncpg.Record, provider: str, result: SendResult) -> None:
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            if result.outcome == Outcome.ACCEPTED:
                await conn.execute(
                    """UPDATE messages SET status = 'delivered', provider = $2, submitted_at = $3,
                         delivered_at = $3, finished_at = $3, last_error = NULL,
                         updated_at = now() WHERE id = $1 AND status = 'sending'""",
                    row["id"],
                    provider,
                    now,
                )
            elif result.outcome == Outcome.UNKNOWN:
                await sending.note_error(conn, row["id"], result.detail)
            elif result.outcome == Outcome.RETRY:
                await self._record_retry(conn, row, result, now)
            else:
                await sending.fail_after_send(conn, row["id"], result.detail, now, answered=True)

    async def _record_retry(
        self, conn: asyncpg.Connection, row: asyncpg.Record, result: SendResult, now: datetime
    ) -> None:
        """Not taken: again later, or failed (retries.py, the rule SMS follow). While the mail
        server or the robot cannot be reached, until the note expires or `staff_channel_wait_h`
        after it fell due: 8 attempts (~10 minutes) lost every note of an outage longer."""
        answered = not result.gateway_away
        step = retries.after_not_taken(
            attempts=row["attempts"] + 1,  # the claim's, not in `row`
            answered_errors=row["answered_errors"] + answered,
            gateway_away=result.gateway_away,
            detail=result.detail,
            due_at=max(row["due_at"], row["created_at"]),  # a resend waits from when it was made
            expires_at=row["expires_at"],
            now=now,
            rules=retries.rules_from(self.settings, wait_h=self.settings.staff_channel_wait_h),
            server=row["channel"],
        )
        if isinstance(step, Defer):
            await sending.retry_later(conn, row["id"], step.until, result.detail, answered=answered)
        else:
            await sending.fail_after_send(conn, row["id"], step.reason, now, answered=answered)
