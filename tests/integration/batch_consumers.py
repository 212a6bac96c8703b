"""A reliable consumer for the tests that drive one by hand (no Kafka consumer around it)."""

from __future__ import annotations

from typing import Any

import asyncpg

from hospital_shared.consumer import BatchEventHandler, ReliableConsumer
from hospital_shared.dead_letters import DeadLetterPublisher


async def _no_dead_letters(*args: Any) -> None:
    raise AssertionError(f"a dead letter nothing here should send: {args!r}")


def batch_consumer(
    pool: Any,
    handle_batch: BatchEventHandler,
    *,
    name: str = "probe",
    dead_letter: DeadLetterPublisher = _no_dead_letters,
    **options: Any,
) -> ReliableConsumer:
    """A ReliableConsumer of `handle_batch` on `pool` (its one-event path a batch of one); a
    dead letter fails the test unless `dead_letter` takes it. `options`: the consumer's other
    fields (concurrency, split_from, acts_on, inbox_names...)."""

    async def handle(conn: asyncpg.Connection, event: Any) -> None:
        await handle_batch(conn, [event])

    return ReliableConsumer(
        service="test",
        handler_name=name,
        handle=handle,
        handle_batch=handle_batch,
        pool=pool,
        dead_letter=dead_letter,
        **options,
    )
