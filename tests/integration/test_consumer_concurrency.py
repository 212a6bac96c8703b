"""A batch split by partition into parts that run at the same time (`concurrency`), on the real
PostgreSQL: each event has its effect once, each partition keeps its order, both parts are
in flight together, and a part that fails on the database is retried alone before the batch
counts as done."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import pytest
from aiokafka import ConsumerRecord

from hospital_shared import db, topics
from hospital_shared.codec import encode
from hospital_shared.consumer import Received, ReliableConsumer, _by_partition
from hospital_shared.events import CloudEvent, RegistrationNoShow, make_event
from tests.factories import NOW
from tests.integration.batch_consumers import batch_consumer

TOPIC = topics.REGISTRATIONS


def record(partition: int, offset: int, n: int) -> ConsumerRecord[Any, Any]:
    event = make_event(
        "registration.no_show",
        RegistrationNoShow(registration_id=f"R{partition}-{n}"),
        source="urn:test",
        subject=f"P{partition}",
        time=NOW,
    )
    value = encode(event)
    return ConsumerRecord(TOPIC, partition, offset, 0, 0, None, value, None, 0, len(value), [])


def test_parts_keep_each_partition_together_and_in_order() -> None:
    items = [Received(record(p, o, o)) for o in range(6) for p in (0, 1, 2, 2)]
    parts = _by_partition(items, 2)
    assert len(parts) == 2
    assert [len(p) for p in parts] == [12, 12]  # partition 2 alone; partitions 0 and 1
    for part in parts:
        for p in {i.record.partition for i in part}:
            mine = [i.record.offset for i in part if i.record.partition == p]
            assert mine == sorted(mine)
        others = [i for other in parts if other is not part for i in other]
        assert not {i.record.partition for i in part} & {i.record.partition for i in others}
    assert _by_partition(items, 1) == [items]
    one = [Received(record(5, o, o)) for o in range(3)]
    assert _by_partition(one, 4) == [one]


@pytest.fixture
async def pool(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    dsn = stack_env["DATABASE_URL"]
    schema = f"conctest_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(dsn)
    try:
        await db.migrate(conn, schema=schema, folders={"shared": db.SHARED_MIGRATIONS})
        await conn.execute(
            f"CREATE TABLE {schema}.effects (id bigserial, registration_id text, part int)"
        )
    finally:
        await conn.close()
    created = await db.create_pool(dsn, schema=schema, max_size=4)
    try:
        yield created
    finally:
        await created.close()


async def test_a_batch_in_two_parts_has_every_effect_once_in_order(pool: asyncpg.Pool) -> None:
    in_flight = 0
    most_in_flight = 0
    fail_once = {"R1-0"}  # the part holding partition 1 fails once on the database

    async def handle_batch(conn: asyncpg.Connection, events: Sequence[CloudEvent[Any]]) -> None:
        nonlocal in_flight, most_in_flight
        in_flight += 1
        most_in_flight = max(most_in_flight, in_flight)
        try:
            await asyncio.sleep(0.2)  # long enough for the other part to be in flight too
            ids = [e.data.registration_id for e in events]
            await conn.executemany(
                "INSERT INTO effects (registration_id) VALUES ($1)", [(i,) for i in ids]
            )
            if fail_once & set(ids):
                fail_once.clear()
                raise asyncpg.exceptions.DeadlockDetectedError("simulated")
        finally:
            in_flight -= 1

    dead_letters: list[Any] = []

    async def no_dead_letters(*args: Any) -> None:
        dead_letters.append(args)

    consumer = batch_consumer(
        pool, handle_batch, dead_letter=no_dead_letters, initial_backoff_s=0.05, concurrency=2
    )
    batch = [record(p, o, o) for o in range(50) for p in (0, 1, 2, 3)]
    await consumer.process_batch(batch)
    assert not dead_letters
    assert most_in_flight == 2

    rows = await pool.fetch("SELECT registration_id FROM effects ORDER BY id")
    ids = [r["registration_id"] for r in rows]
    assert sorted(ids) == sorted(f"R{p}-{o}" for o in range(50) for p in range(4))  # once each
    for p in range(4):
        mine = [int(i.split("-")[1]) for i in ids if i.startswith(f"R{p}-")]
        assert mine == list(range(50)), p

    await consumer.process_batch(batch)  # redelivered after a crash: no effect again
    assert await pool.fetchval("SELECT count(*) FROM effects") == 200


async def test_a_small_batch_is_not_split(pool: asyncpg.Pool) -> None:
    """A steady stream's batch (fewer events than `split_from`) goes in one transaction, on
    however many partitions; a backlog's is split."""
    calls: list[int] = []

    async def handle_batch(conn: asyncpg.Connection, events: Sequence[CloudEvent[Any]]) -> None:
        calls.append(len(events))

    consumer = batch_consumer(pool, handle_batch, concurrency=2, split_from=10)
    await consumer.process_batch([record(p, o, o) for o in range(3) for p in range(3)])
    assert calls == [9]
    calls.clear()
    await consumer.process_batch([record(p, o, o) for o in range(3, 8) for p in range(2)])
    assert sorted(calls) == [5, 5]


class OpenedTransaction(BaseException):
    """Not an Exception: the consumer retries those for good, this one ends the test."""


class NoDatabase:
    """A pool that fails the test if anything asks it for a connection."""

    def acquire(self) -> Any:
        raise OpenedTransaction("a batch the handler does not act on opened a transaction")


async def test_events_the_handler_does_not_act_on_are_validated_and_counted_only(
    pool: asyncpg.Pool,
) -> None:
    """`acts_on` (complaints reads every registration for the merges among them): the others
    open no transaction and leave no inbox row, an invalid record is still dead-lettered, and
    the events acted on keep their order and their once-only effect."""
    handled: list[str] = []

    async def handle_batch(conn: asyncpg.Connection, events: Sequence[CloudEvent[Any]]) -> None:
        handled.extend(e.data.registration_id for e in events)
        await conn.executemany(
            "INSERT INTO effects (registration_id) VALUES ($1)",
            [(e.data.registration_id,) for e in events],
        )

    dead_letters: list[Any] = []

    async def dead_letter(*args: Any) -> None:
        dead_letters.append(args)

    def consumer(on: Any) -> ReliableConsumer:
        return batch_consumer(
            on,
            handle_batch,
            name="acts_on",
            dead_letter=dead_letter,
            acts_on=lambda e: e.subject == "P1",
        )

    invalid = ConsumerRecord(TOPIC, 0, 99, 0, 0, None, b"{not json", None, 0, 9, [])
    ignored_only = [record(0, o, o) for o in range(5)] + [invalid]
    await consumer(NoDatabase()).process_batch(ignored_only)
    assert handled == []
    assert len(dead_letters) == 1  # the invalid record, as without acts_on

    mixed = [record(p, o, o) for o in range(5) for p in (0, 1)]
    await consumer(pool).process_batch(mixed)
    await consumer(pool).process_batch(mixed)  # redelivered: no effect again
    assert handled == [f"R1-{o}" for o in range(5)]
    inbox = await pool.fetchval("SELECT count(*) FROM inbox WHERE handler = 'acts_on'")
    assert inbox == 5  # only the events acted on
