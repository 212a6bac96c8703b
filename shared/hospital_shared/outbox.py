"""Transactional outbox: a use case writes its outgoing events in its own transaction; the
relay publishes them to Kafka with an idempotent producer.

Safe with several instances: each relay pass takes a transaction-scoped advisory lock, so one
instance publishes at a time and one patient's events leave in the order they were written.
A crash after the publish and before the mark re-sends that batch on restart; consumers drop
the repeat by event id (the inbox), so every effect still happens once.

A published event stays in the outbox `keep_published_s` (a day by default): while it is
there, adding an event with the same id again is a no-op, which services whose event ids are
derived from their input rely on. With 0, a pass deletes what it published instead of
marking it, which costs PostgreSQL far less than the update (a new row version and index
entries): for services whose event ids are random.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import structlog
from prometheus_client import Counter, Gauge

from hospital_shared.background import listen
from hospital_shared.codec import encode
from hospital_shared.events import CloudEvent
from hospital_shared.failpoints import failpoint

log = structlog.get_logger(__name__)

OUTBOX_PUBLISHED = Counter(
    "hospital_outbox_published_total", "Events relayed from the outbox to Kafka", ["service"]
)
OUTBOX_PENDING = Gauge("hospital_outbox_pending", "Outbox events not yet published", ["service"])


async def add_to_outbox(
    conn: asyncpg.Connection, event: CloudEvent[Any], *, topic: str, key: str
) -> None:
    """Queue `event` for publishing; call inside the transaction that changes the state."""
    await add_many_to_outbox(conn, [(event, topic, key)])


async def add_many_to_outbox(
    conn: asyncpg.Connection, entries: Sequence[tuple[CloudEvent[Any], str, str]]
) -> None:
    """`add_to_outbox` for many `(event, topic, key)` at once, in order."""
    await add_encoded_to_outbox(
        conn, [(event.id, topic, key, encode(event)) for event, topic, key in entries]
    )


async def add_encoded_to_outbox(
    conn: asyncpg.Connection, rows: Sequence[tuple[str, str, str, bytes]]
) -> None:
    """The one write to the outbox: `(event id, topic, key, payload bytes)` rows, in order, in
    one statement that also wakes the relay (the notification is delivered at commit). For
    callers that already hold the encoded event."""
    if not rows:
        return
    await conn.execute(
        "WITH added AS (INSERT INTO outbox (event_id, topic, key, payload)"
        " SELECT e.event_id, e.topic, e.key, e.payload"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[])"
        " WITH ORDINALITY AS e(event_id, topic, key, payload, n) ORDER BY n"
        " ON CONFLICT (event_id) DO NOTHING)"
        " SELECT pg_notify(current_schema() || '_outbox', '')",
        *(list(column) for column in zip(*rows, strict=True)),
    )


_MARK_PUBLISHED = "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])"
_DELETE_PUBLISHED = "DELETE FROM outbox WHERE id = ANY($1::bigint[])"

# publish(records) sends (topic, key, payload) records and returns when Kafka acked them all.
PublishBatch = Callable[[Sequence[tuple[str, str | None, bytes]]], Awaitable[None]]


async def _outbox_channel(conn: asyncpg.Connection) -> str:
    channel: str = await conn.fetchval("SELECT current_schema() || '_outbox'")
    return channel


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        publish: PublishBatch,
        *,
        service: str,
        batch_size: int = 500,
        poll_interval_s: float = 0.2,
        keep_published_s: float = 86400.0,
    ) -> None:
        self._pool = pool
        self._publish = publish
        self._service = service
        self._batch_size = batch_size
        self._poll = poll_interval_s
        self._keep_published_s = keep_published_s
        self._wake = asyncio.Event()
        self.healthy = True

    async def relay_once(self) -> int:
        """Publish one batch; return how many events went out (0: nothing, or another instance
        holds the relay lock)."""
        async with self._pool.acquire() as conn, conn.transaction():
            locked = await conn.fetchval(
                "SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || ':outbox-relay'))"
            )
            if not locked:
                return 0
            rows = await conn.fetch(
                "SELECT id, topic, key, payload FROM outbox WHERE published_at IS NULL"
                " ORDER BY id LIMIT $1",
                self._batch_size,
            )
            if not rows:
                return 0
            failpoint("outbox.before_publish")
            await self._publish([(r["topic"], r["key"], bytes(r["payload"])) for r in rows])
            failpoint("outbox.after_publish")
            await conn.execute(
                _DELETE_PUBLISHED if self._keep_published_s <= 0 else _MARK_PUBLISHED,
                [r["id"] for r in rows],
            )
        OUTBOX_PUBLISHED.labels(self._service).inc(len(rows))
        return len(rows)

    async def purge_published(self) -> int:
        async with self._pool.acquire() as conn:
            status = await conn.execute(
                "DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)",
                self._keep_published_s,
            )
            pending = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        OUTBOX_PENDING.labels(self._service).set(pending)
        return int(status.split()[-1])

    def wake(self) -> None:
        """Publish at once: a transaction that wrote to the outbox has committed."""
        self._wake.set()

    async def _listen(self) -> None:
        """Wake the relay as soon as a transaction that wrote to the outbox commits (its
        channel is named after the schema: `<schema>_outbox`)."""
        await listen(self._pool, _outbox_channel, self.wake)

    async def run(self) -> None:
        listener = asyncio.create_task(self._listen())
        backoff = self._poll
        passes = 0
        try:
            while True:
                self._wake.clear()  # before the pass: a commit during it is not lost
                try:
                    sent = await self.relay_once()
                    self.healthy = True
                    backoff = self._poll
                    passes += 1
                    # On the first pass too, so `hospital_outbox_pending` exists from the start.
                    if passes % 300 == 1:
                        await self.purge_published()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # database or broker away: back off, keep the rows
                    self.healthy = False
                    log.warning(
                        "outbox relay failed, will retry", error=repr(exc), backoff_s=backoff
                    )
                    sent = 0
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                if sent == 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
        finally:
            listener.cancel()
