"""Delivery receipts recorded together: the receipts that come while one write runs wait for
it and go together in the next (a group commit), one transaction and a few set-based
statements for all of them instead of a transaction and four statements each.

At 1,000 events/s Kannel reports ~170 deliveries a second, and one transaction per receipt
was two fifths of the service's CPU (issue 22). Nothing is answered before its write has
committed: a receipt whose write failed is answered 503 (database away) or 500, and smsbox
sends it again. The first receipt after a quiet spell is written at once; receipts wait only
while the database is busy with the ones before them.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import structlog
from prometheus_client import Histogram

from notifications import domain
from notifications.lifecycle import publish_status_changes

log = structlog.get_logger(__name__)

RECEIPTS_PER_WRITE = Histogram(
    "notifications_receipts_per_write",
    "Delivery receipts recorded in one transaction (more when they come faster than one write)",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)

# What a database that is away raises: refused or lost connections, a timed-out acquire, a
# server shutting down or starting up (57P01, 57P03: a restart).
DATABASE_AWAY = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
)
# What the caller answers 503 for, so that smsbox sends the receipt again: the database away,
# or the message's row locked by another transaction for longer than LOCK_TIMEOUT.
RETRY_LATER = (*DATABASE_AWAY, asyncpg.LockNotAvailableError)
# The longest a write waits for a message's row: one row held by a stuck transaction must not
# hold up the receipts of every other message (a write that times out is done again receipt
# by receipt, and the one whose row is held is answered 503).
LOCK_TIMEOUT = "5s"
MISSING = "missing"  # no such message: the caller answers 404
# A deadlock with the dispatcher's record of the gateway's answers (both lock messages) is
# broken by PostgreSQL aborting one side; the receipts' side writes again, this many times.
DEADLOCK_RETRIES = 3


@dataclasses.dataclass(frozen=True, slots=True)
class Receipt:
    message_id: uuid.UUID
    status: domain.Status
    detail: str  # "DLR <type>: <the SMSC's words>"
    at: datetime  # when it came


@dataclasses.dataclass(slots=True)
class _Change:
    """A message as the receipts of one write leave it, and the events they publish."""

    row: dict[str, Any]
    events: list[tuple[str, str | None, datetime]] = dataclasses.field(default_factory=list)


class ReceiptWriter:
    def __init__(self, pool: asyncpg.Pool, *, max_per_write: int = 500) -> None:
        self.pool = pool
        self.max_per_write = max_per_write
        self._waiting: list[tuple[Receipt, asyncio.Future[str]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, receipt: Receipt) -> str:
        """`ok`, `unchanged` or `missing`, once the receipt's write has committed; raises
        what the write raised."""
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting.append((receipt, answer))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(
                self._write_waiting(), name="receipt-writer", context=contextvars.Context()
            )  # not the first request's context: the writer outlives it
        return await answer

    async def _write_waiting(self) -> None:
        batch: list[tuple[Receipt, asyncio.Future[str]]] = []
        try:
            while self._waiting:
                batch = self._waiting[: self.max_per_write]
                del self._waiting[: len(batch)]
                await self._write(batch)
        finally:  # cancelled at stop: whoever still waits is told, never left hanging
            for _, answer in [*batch, *self._waiting]:
                if not answer.done():
                    answer.set_exception(ConnectionError("stopped before the write"))

    async def _write(self, batch: list[tuple[Receipt, asyncio.Future[str]]]) -> None:
        receipts = [r for r, _ in batch]
        try:
            outcomes = await self._apply_with_retries(receipts)
        except Exception as exc:
            if len(batch) > 1 and not isinstance(exc, DATABASE_AWAY):
                # one bad receipt must not hold back the others: each alone
                log.warning("receipts written one by one after a failed write", error=repr(exc))
                for one in batch:
                    await self._write([one])
                return
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(exc)
            return
        RECEIPTS_PER_WRITE.observe(len(batch))
        for (_, answer), outcome in zip(batch, outcomes, strict=True):
            if not answer.done():  # the caller may have gone; the receipt is recorded anyway
                answer.set_result(outcome)

    async def _apply_with_retries(self, receipts: Sequence[Receipt]) -> list[str]:
        for attempt in range(DEADLOCK_RETRIES + 1):
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    return await apply_receipts(conn, receipts)
            except asyncpg.DeadlockDetectedError:
                if attempt == DEADLOCK_RETRIES:
                    raise
        raise AssertionError("unreachable")


async def apply_receipts(conn: asyncpg.Connection, receipts: Sequence[Receipt]) -> list[str]:
    """Move each receipt's message on by it, in the order they came (a message only moves
    forward: `domain.apply_receipt`), in the current transaction; the outcome of each.

    A receipt proves the gateway took the message, so one without `submitted_at` gains it,
    and its `sms.submitted`, here: the receipt often comes before the dispatcher records the
    gateway's answer, and comes alone when the service died in between (the dispatcher's
    record, if it comes, adds the gateway's reference; the event's id makes a second
    `sms.submitted` a no-op)."""
    ids = sorted({r.message_id for r in receipts})  # locked in one order: no deadlock between us
    await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    rows = await conn.fetch(
        "SELECT * FROM messages WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE", ids
    )
    changes = {row["id"]: _Change(dict(row)) for row in rows}
    outcomes = [_apply_one(changes.get(r.message_id), r) for r in receipts]
    changed = [c for c in changes.values() if c.events]
    if not changed:
        return outcomes
    written = await conn.fetch(
        """UPDATE messages m SET status = u.status, status_reason = u.reason,
             delivered_at = u.delivered_at, finished_at = u.finished_at,
             submitted_at = u.submitted_at, updated_at = now()
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[],
                       $5::timestamptz[], $6::timestamptz[])
             AS u(id, status, reason, delivered_at, finished_at, submitted_at)
           WHERE m.id = u.id RETURNING m.*""",
        *(
            list(column)
            for column in zip(
                *(
                    (c.row["id"], c.row["status"], c.row["status_reason"],
                     c.row["delivered_at"], c.row["finished_at"], c.row["submitted_at"])
                    for c in changed
                ),
                strict=True,
            )
        ),
    )  # fmt: skip
    by_id = {row["id"]: row for row in written}
    await publish_status_changes(
        conn,
        [
            (by_id[c.row["id"]], status, reason, at)
            for c in changed
            for status, reason, at in c.events
        ],
    )
    return outcomes


def _apply_one(change: _Change | None, receipt: Receipt) -> str:
    """One receipt on the message as the receipts before it left it (the old per-receipt
    UPDATE, in memory)."""
    if change is None:
        return MISSING
    row = change.row
    new = domain.apply_receipt(domain.Status(row["status"]), row["status_reason"], receipt.status)
    if new is None:
        return "unchanged"
    row["status"] = new.value
    row["status_reason"] = receipt.detail if new == domain.Status.FAILED else None
    if new == domain.Status.DELIVERED:
        row["delivered_at"] = receipt.at
    if new in (domain.Status.DELIVERED, domain.Status.FAILED):
        row["finished_at"] = receipt.at
    if row["submitted_at"] is None:
        row["submitted_at"] = receipt.at
        change.events.append(("submitted", None, receipt.at))
    if new in (domain.Status.DELIVERED, domain.Status.FAILED):
        reason = receipt.detail if new == domain.Status.FAILED else None
        change.events.append((new.value, reason, receipt.at))
    return "ok"
