"""The reconciler: settles SMS whose hand-over to the gateway was interrupted, expires SMS
that waited too long, and counts the SMS whose fate is not known.

At most once: a message left `sending` longer than `sending_lease_s` was claimed by a
dispatcher that died (or lost the gateway's answer). It is never sent again from here
(Kannel has no idempotency key to make a second attempt safe). The gateway's own records
(`SmsProvider.lookup`: for Kannel, bearerbox's access log) tell what became of it:
- sent to the operator: `submitted` (it waits for its delivery receipt, which smsbox retries
  until the service records it);
- refused by the gateway: `failed` (it never went; a supervisor may resend it);
- no record: `failed` with `outcome_unknown`. It may have gone; a receipt arriving later
  still moves it on. A supervisor can resend it only by overriding (api.py).

`notifications_sms_outcome_unknown` and `notifications_sms_receipt_overdue` count what needs
a person's look: SMS failed as outcome unknown, and SMS submitted longer than
`receipt_overdue_min` without a final receipt. `notifications_sms_waiting_for_gateway` counts
the SMS waiting for the gateway to take them (retries.py): the alert `SmsGatewayFailing`
stays on while any wait and none is accepted. `notifications_staff_waiting_for_server` counts
the staff email and webhook notes waiting for their server, by channel (`StaffChannelFailing`).
While SMS dispatch is paused only the counts run (`count`), and no SMS waits for the gateway
(`waiting_shown`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import structlog
from prometheus_client import Gauge

from notifications import sending
from notifications.lifecycle import publish_finished, publish_statuses
from notifications.providers import GatewayRecord, SmsProvider

log = structlog.get_logger(__name__)

OUTCOME_UNKNOWN_SMS = Gauge(
    "notifications_sms_outcome_unknown",
    "SMS failed as outcome unknown: the service lost track of the hand-over and the "
    "gateway's records do not show it (kept as long as messages are; never re-sent); the same"
    " on every instance",
)
WAITING_FOR_GATEWAY_SMS = Gauge(
    "notifications_sms_waiting_for_gateway",
    "SMS waiting to be tried again because the gateway did not take their last hand-over"
    " (unreachable or unavailable: until they expire); the same on every instance",
)
WAITING_FOR_SERVER_STAFF = Gauge(
    "notifications_staff_waiting_for_server",
    "Staff email and webhook notes waiting to be tried again because their server (the mail"
    " relay, the robot's endpoint) did not take their last hand-over; the same on every instance",
    ["channel"],
)
STAFF_CHANNELS = ("email", "webhook")
RECEIPT_OVERDUE_SMS = Gauge(
    "notifications_sms_receipt_overdue",
    "SMS the gateway accepted longer than receipt_overdue_min ago, still without a final "
    "delivery receipt; the same on every instance",
)


async def reconcile(
    pool: asyncpg.Pool, provider: SmsProvider, settings: Any, now: datetime
) -> None:
    """One pass: settle interrupted hand-overs, expire, count (module docstring)."""
    stale_before = now - timedelta(seconds=settings.sending_lease_s)
    async with pool.acquire() as conn:
        stale = await sending.interrupted(conn, stale_before)
    records = await gateway_records(provider, [str(i) for i in stale])
    async with pool.acquire() as conn, conn.transaction():
        await _settle(conn, stale, now, records)
        receipt_before = now - timedelta(hours=settings.receipt_timeout_h)
        await publish_finished(conn, await sending.expire(conn, now, receipt_before), now)
        await _count(conn, settings, now, sms_paused=False)


async def _settle(
    conn: asyncpg.Connection,
    stale: list[Any],
    now: datetime,
    records: Mapping[str, GatewayRecord],
) -> None:
    settled = await sending.settle_interrupted(conn, stale, now, records)
    await publish_statuses(conn, [_event(row) for row in settled], now=now)
    for row in settled:
        log.warning("message hand-over interrupted; settled by the gateway's records",
                    message_id=str(row["id"]), status=row["status"],
                    reason=row["status_reason"])  # fmt: skip


async def settle_staff_notes(pool: asyncpg.Pool, settings: Any, now: datetime) -> None:
    """While SMS dispatch is paused: the staff notes (email, robot) whose hand-over a crash
    interrupted, settled as `reconcile` settles them (the SMS gateway holds no record of a
    note: outcome unknown, never sent twice). `reconcile` does not run while paused, and they
    stayed `sending`, neither sent nor failed, until the pause ended; SMS are left as they
    are (nothing of theirs is settled while paused)."""
    stale_before = now - timedelta(seconds=settings.sending_lease_s)
    async with pool.acquire() as conn, conn.transaction():
        stale = await sending.interrupted(conn, stale_before, channels=STAFF_CHANNELS)
        await _settle(conn, stale, now, {})


async def count(pool: asyncpg.Pool, settings: Any, now: datetime, *, sms_paused: bool) -> None:
    """The gauges alone, nothing settled or expired: what the dispatcher does while SMS
    dispatch is paused (`sms_dispatch_paused`), so that the gauges stay true meanwhile."""
    async with pool.acquire() as conn:
        await _count(conn, settings, now, sms_paused=sms_paused)


def waiting_shown(waiting: Mapping[str, int], *, sms_paused: bool) -> dict[str, int]:
    """What the waiting gauges say, by channel, from the messages waiting again after a
    hand-over not taken (`waiting`, by channel). While SMS dispatch is paused no SMS is tried,
    so none waits for the gateway: they are held by the pause (`notifications_sms_dispatch_
    paused` says so), and counted as waiting they would keep `SmsGatewayFailing` on, as no SMS
    is accepted meanwhile. Staff email and webhook notes are still sent: counted as ever."""
    shown = {channel: waiting.get(channel, 0) for channel in ("sms", *STAFF_CHANNELS)}
    if sms_paused:
        shown["sms"] = 0
    return shown


async def _count(
    conn: asyncpg.Connection, settings: Any, now: datetime, *, sms_paused: bool
) -> None:
    overdue_before = now - timedelta(minutes=settings.receipt_overdue_min)
    unknown, overdue = await sending.count_unsettled(conn, overdue_before)
    waiting = waiting_shown(await sending.count_waiting_for_gateway(conn), sms_paused=sms_paused)
    OUTCOME_UNKNOWN_SMS.set(unknown)
    WAITING_FOR_GATEWAY_SMS.set(waiting["sms"])
    for channel in STAFF_CHANNELS:
        WAITING_FOR_SERVER_STAFF.labels(channel).set(waiting[channel])
    RECEIPT_OVERDUE_SMS.set(overdue)


async def gateway_records(
    provider: SmsProvider, message_ids: list[str]
) -> dict[str, GatewayRecord]:
    """The provider's records of these messages; none when it cannot be asked (the messages
    then stay outcome unknown: the safe side)."""
    if not message_ids:
        return {}
    try:
        return await provider.lookup(message_ids)
    except Exception as exc:
        log.warning("the gateway's records could not be read", error=repr(exc))
        return {}


def _event(row: asyncpg.Record) -> tuple[asyncpg.Record, str, str | None]:
    if row["status"] == "submitted":
        return row, "submitted", None
    return row, row["status"], row["status_reason"]
