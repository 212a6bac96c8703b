"""The reliable consumer: at-least-once delivery from Kafka made effectively-once.

For each batch of records:
- records that are not valid events go to the topic's dead-letter topic with the original
  bytes, the reason and the attempt count, and the consumer goes on;
- valid events run through the handler in one database transaction, together with their
  inbox rows (so a redelivered event is skipped) and whatever the handler puts in the outbox
  (with `concurrency` > 1, the batch's partitions are split into that many transactions that
  run at the same time);
- offsets are committed only after that transaction (every one of them) has committed;
- when the database or broker is away, the batch is retried in place with backoff, so one
  patient's events are never reordered nor lost;
- an event whose handler keeps failing for another reason is dead-lettered after
  `max_attempts`, alone, and the rest of the batch still goes through;
- a record too big to dead-letter whole is dead-lettered as a reference to it
  (`dead_letters.py`): no record blocks its partition for good.

`last_error` says what the consumer last retried on, for `/readyz` when it stalls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog
from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Gauge, Histogram

from hospital_shared import dead_letters
from hospital_shared.codec import InvalidEvent, Rejection, decode_record
from hospital_shared.db import TRANSIENT_DB_ERRORS
from hospital_shared.dead_letters import DeadLetterPublisher, DeadLetterSender
from hospital_shared.events import CloudEvent
from hospital_shared.failpoints import failpoint
from hospital_shared.logging import mask_phone

log = structlog.get_logger(__name__)

# Failures worth waiting out: the database or the broker is away for now.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (*TRANSIENT_DB_ERRORS, KafkaError)

EVENTS_PROCESSED = Counter(
    "hospital_events_processed_total", "Events handled", ["service", "topic", "result"]
)
EVENT_DELAY = Histogram(
    "hospital_event_processing_delay_seconds",
    "Time from the event's occurrence (CloudEvents time) to its processing",
    ["service", "topic"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)
RETRIES = Counter(
    "hospital_consumer_retries_total", "Batches retried after a transient error", ["service"]
)
CONSUMER_LAG = Gauge(
    "hospital_consumer_lag", "Records waiting per topic and group", ["topic", "group"]
)

# handle(conn, event) runs inside the batch's transaction; it writes state and outbox rows.
EventHandler = Callable[[asyncpg.Connection, CloudEvent[Any]], Awaitable[None]]
# handle_batch(conn, events): optional, the batch's new events in order, in one call, for
# handlers that write in bulk (far fewer database round trips than one event at a time).
BatchEventHandler = Callable[[asyncpg.Connection, Sequence[CloudEvent[Any]]], Awaitable[None]]
# Records decoded between two yields to the event loop (`decode_ahead`): ~2 ms of CPU.
DECODE_SLICE = 100
# The `result` of a record that could not be dead-lettered at all (dead_letters.py).
DEAD_LETTER_LOST = "dead_letter_lost"


@dataclass(slots=True)
class Received:
    record: ConsumerRecord[Any, Any]
    event: CloudEvent[Any] | None = None
    rejection: InvalidEvent | None = None
    attempts: int = 0


@dataclass
class ReliableConsumer:
    service: str
    handler_name: str
    handle: EventHandler
    pool: asyncpg.Pool
    dead_letter: DeadLetterPublisher
    max_attempts: int = 5
    initial_backoff_s: float = 0.2
    max_backoff_s: float = 10.0
    handle_batch: BatchEventHandler | None = None
    # A batch is split by partition into up to `concurrency` parts, each in its own
    # transaction at the same time: while one part waits on the database, another's Python
    # work runs. The order of each partition (of each key) is kept.
    concurrency: int = 1
    # A batch of fewer valid events than this is not split: a steady stream's small batches
    # (a few events on many partitions, at 1,000 events/s) would otherwise pay two
    # transactions where one does, for nothing to overlap.
    split_from: int = 100
    # Bytes of the value a dead letter keeps when the whole record cannot be dead-lettered.
    dead_letter_prefix_bytes: int = 4096
    # The events the handler acts on (None: all). The others are still decoded, so an invalid
    # one is dead-lettered as before, and counted, but they get no inbox row and no handler
    # call: a batch of none opens no transaction (complaints reads every registration only for
    # the merges among them).
    acts_on: Callable[[CloudEvent[Any]], bool] | None = None
    # The inbox's handler name by topic, for a consumer that replaced one consumer per topic
    # (runtime.consume's `replaces`): an event is recorded, and found again, under the name
    # its topic's consumer used, so what either handled is never handled twice.
    inbox_names: Mapping[str, str] | None = None
    healthy: bool = field(default=True, init=False)
    # What the consumer last retried on ("<stage>: <error>"); None once a batch goes through.
    last_error: str | None = field(default=None, init=False)
    # Dead letters sent so far: a batch that sent one has its offsets committed at once.
    dead_letters: int = field(default=0, init=False)

    def note_error(self, stage: str, error: BaseException) -> None:
        """Remember why the consumer is retrying (shown by /readyz when it stalls): the
        error's type and the start of its message, phone numbers masked."""
        self.last_error = mask_phone(f"{stage}: {error!r}")[:300]

    async def process_batch(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        await self.process_decoded([self.decode(r) for r in records])

    async def decode_ahead(self, records: Sequence[ConsumerRecord[Any, Any]]) -> list[Received]:
        """`records` decoded while the batch before them is still in the database (the
        runtime's pipeline): in slices, yielding to the event loop between them, so that
        batch's next statement goes out as soon as PostgreSQL has answered the last."""
        received: list[Received] = []
        for start in range(0, len(records), DECODE_SLICE):
            if start:
                await asyncio.sleep(0)
            received.extend(self.decode(r) for r in records[start : start + DECODE_SLICE])
        return received

    async def process_decoded(self, received: list[Received]) -> None:
        """A batch decoded by `decode` (or `decode_ahead`): its invalid records
        dead-lettered, its events handled, in their order."""
        for item in received:
            if item.rejection is not None:
                await self._dead_letter(item, item.rejection, attempts=1)
        valid = [r for r in received if r.event is not None]
        if self.acts_on is not None:
            valid = self._without_ignored(valid)
        if not valid:
            return
        parts = _by_partition(valid, self.concurrency if len(valid) >= self.split_from else 1)
        if len(parts) == 1:
            await self._process(valid)
        else:  # offsets are committed by the caller once every part has committed
            await asyncio.gather(*(self._process(part) for part in parts))
        self.last_error = None

    def _without_ignored(self, valid: list[Received]) -> list[Received]:
        """The events the handler acts on; the others counted as handled (nothing to do)."""
        assert self.acts_on is not None
        acted = [r for r in valid if r.event is not None and self.acts_on(r.event)]
        if len(acted) < len(valid):
            kept = {id(r) for r in acted}
            ignored = [r for r in valid if id(r) not in kept]
            self._count_processed(ignored, ignored)
        return acted

    async def _process(self, valid: list[Received]) -> None:
        try:
            await self._with_backoff(lambda: self._handle_in_one_transaction(valid))
        except _HandlerFailed:
            # Something in the batch is not transient: find it by going one event at a time.
            for item in valid:
                await self._handle_alone(item)

    def decode(self, record: ConsumerRecord[Any, Any]) -> Received:
        try:
            event = decode_record(record.value, record.headers, expected_topic=record.topic)
            return Received(record, event=event)
        except InvalidEvent as exc:
            return Received(record, rejection=exc)

    async def _handle_in_one_transaction(self, items: Sequence[Received]) -> None:
        failpoint(f"consumer.{self.handler_name}.handle")
        async with self.pool.acquire() as conn, conn.transaction():
            fresh = await self._record_in_inbox(conn, items)
            if self.handle_batch is not None:
                await self._handle_as_batch(conn, fresh)
            else:
                for item in fresh:
                    assert item.event is not None
                    item.attempts += 1
                    try:
                        await self.handle(conn, item.event)
                    except TRANSIENT_ERRORS:
                        raise
                    except Exception as exc:
                        raise _HandlerFailed(item, exc) from exc
        self._count_processed(items, fresh)

    async def _record_in_inbox(
        self, conn: asyncpg.Connection, items: Sequence[Received]
    ) -> list[Received]:
        """Inbox rows for `items`; returns the items to handle: those the inbox had not seen,
        the first of each only (the same event twice in one batch runs once)."""
        ids = [i.event.id for i in items if i.event]
        topics = [i.record.topic for i in items]
        if self.inbox_names is None:
            inserted = await conn.fetch(
                "INSERT INTO inbox (handler, event_id, topic)"
                " SELECT $1, e.id, e.topic FROM unnest($2::text[], $3::text[]) AS e(id, topic)"
                " ON CONFLICT DO NOTHING RETURNING event_id",
                self.handler_name,
                ids,
                topics,
            )
            return _first_of_each(items, ids, {r["event_id"] for r in inserted})
        # Under each topic's own name: an id seen on two topics is two events, as it was
        # when each topic had its consumer.
        names = [self.inbox_names.get(topic, self.handler_name) for topic in topics]
        inserted = await conn.fetch(
            "INSERT INTO inbox (handler, event_id, topic)"
            " SELECT e.handler, e.id, e.topic"
            " FROM unnest($1::text[], $2::text[], $3::text[]) AS e(handler, id, topic)"
            " ON CONFLICT DO NOTHING RETURNING handler, event_id",
            names,
            ids,
            topics,
        )
        return _first_of_each(
            items,
            list(zip(names, ids, strict=True)),
            {(r["handler"], r["event_id"]) for r in inserted},
        )

    async def _handle_as_batch(self, conn: asyncpg.Connection, fresh: list[Received]) -> None:
        assert self.handle_batch is not None
        if not fresh:
            return
        for item in fresh:
            item.attempts += 1
        try:
            await self.handle_batch(conn, [i.event for i in fresh if i.event is not None])
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:  # found by going one event at a time (_handle_alone)
            raise _HandlerFailed(fresh[0], exc) from exc

    def _count_processed(self, items: Sequence[Received], fresh: list[Received]) -> None:
        """Metrics of a committed batch, one labels() lookup per topic: each event is either
        `ok` (handled now) or `duplicate` (handled before, or twice in this batch)."""
        now = time.time()
        handled = {id(item) for item in fresh}
        delays: dict[str, list[float]] = {}
        duplicates: dict[str, int] = {}
        for item in items:
            assert item.event is not None
            topic = item.record.topic
            if id(item) in handled:
                delays.setdefault(topic, []).append(max(0.0, now - item.event.time.timestamp()))
            else:
                duplicates[topic] = duplicates.get(topic, 0) + 1
        for topic, n in duplicates.items():
            EVENTS_PROCESSED.labels(self.service, topic, "duplicate").inc(n)
        for topic, topic_delays in delays.items():
            EVENTS_PROCESSED.labels(self.service, topic, "ok").inc(len(topic_delays))
            histogram = EVENT_DELAY.labels(self.service, topic)
            for delay in topic_delays:
                histogram.observe(delay)

    async def _handle_alone(self, item: Received) -> None:
        while True:
            try:
                await self._with_backoff(lambda: self._handle_in_one_transaction([item]))
                return
            except _HandlerFailed as failed:
                self.note_error("handler", failed.error)
                if item.attempts >= self.max_attempts:
                    log.error(
                        "handler keeps failing, dead-lettering the event",
                        event_id=item.event.id if item.event else None,
                        error=repr(failed.error),
                    )
                    rejection = InvalidEvent(Rejection.HANDLER_ERROR, repr(failed.error))
                    await self._dead_letter(item, rejection, attempts=item.attempts)
                    return
                await asyncio.sleep(self._backoff(item.attempts))

    async def _with_backoff(self, attempt: Callable[[], Awaitable[None]]) -> None:
        tries = 0
        while True:
            try:
                await attempt()
                self.healthy = True
                return
            except _HandlerFailed:
                raise  # the handler's own failure: found and dead-lettered by the caller
            except Exception as exc:
                # The database or broker is away, or the client broke with the connection
                # (asyncpg's InternalClientError during a server shutdown). Whatever failed
                # outside the handler, the batch is retried, never skipped: its offsets were
                # not committed, but the consumer has already moved past its records.
                tries += 1
                self.healthy = False
                self.note_error("batch retried", exc)
                RETRIES.labels(self.service).inc()
                delay = self._backoff(tries)
                transient = isinstance(exc, TRANSIENT_ERRORS)
                (log.warning if transient else log.exception)(
                    "failure outside the handler, retrying batch",
                    error=repr(exc),
                    backoff_s=delay,
                )
                await asyncio.sleep(delay)

    def _backoff(self, tries: int) -> float:
        return float(min(self.max_backoff_s, self.initial_backoff_s * 2 ** (tries - 1)))

    async def _dead_letter(self, item: Received, rejection: InvalidEvent, *, attempts: int) -> None:
        record = item.record
        letter = dead_letters.whole(
            record, rejection, attempts=attempts, origin=[self.service, self.handler_name]
        )
        sender = DeadLetterSender(
            self.dead_letter,
            TRANSIENT_ERRORS,
            on_retry=self._dead_letter_retry,
            prefix_bytes=self.dead_letter_prefix_bytes,
        )
        sent = await sender.send(letter)
        self.dead_letters += 1
        result = DEAD_LETTER_LOST if sent == "lost" else rejection.kind.value
        EVENTS_PROCESSED.labels(self.service, record.topic, result).inc()
        log.warning(
            "event dead-lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            kind=rejection.kind.value,
            reason=rejection.reason[:500],
            dead_letter=sent,
        )

    def _dead_letter_retry(self, tries: int, error: BaseException) -> float:
        """The broker is away while a dead letter is sent: wait, then the same record again."""
        self.healthy = False
        self.note_error("dead-letter publish", error)
        RETRIES.labels(self.service).inc()
        delay = self._backoff(tries)
        log.warning("dead-letter publish failed, retrying", error=repr(error), backoff_s=delay)
        return delay


def _by_partition(items: list[Received], n: int) -> list[list[Received]]:
    """`items` in up to `n` parts of about the same size, each partition's items in one part
    and in their order. Split by partition number, whatever the topic: the topics have the
    same partitions and the same key (the patient id), so one patient's events on two topics
    (a discharge, then a transfer on the registrations) are in one part, not in two
    transactions that cannot see each other's rows."""
    sizes: dict[int, int] = {}
    for item in items:
        key = item.record.partition
        sizes[key] = sizes.get(key, 0) + 1
    if n <= 1 or len(sizes) == 1:
        return [items]
    loads = [0] * min(n, len(sizes))
    part_of: dict[int, int] = {}
    for key, size in sorted(sizes.items(), key=lambda kv: -kv[1]):
        smallest = loads.index(min(loads))
        part_of[key] = smallest
        loads[smallest] += size
    parts: list[list[Received]] = [[] for _ in loads]
    for item in items:
        parts[part_of[item.record.partition]].append(item)
    return parts


def _first_of_each(
    items: Sequence[Received], keys: Sequence[Hashable], new_keys: set[Any]
) -> list[Received]:
    """The items to handle: those whose inbox key (`keys`, one an item) the inbox had not
    seen, the first of each key only (the same event twice in one batch runs once)."""
    fresh = []
    for item, key in zip(items, keys, strict=True):
        if key in new_keys:
            new_keys.discard(key)
            fresh.append(item)
    return fresh


class _HandlerFailed(Exception):
    def __init__(self, item: Received, error: BaseException) -> None:
        super().__init__(repr(error))
        self.item = item
        self.error = error
