"""The raw limit: a minimal consumer with aiokafka `getmany` and asyncpg `executemany` doing
the equivalent write of a service (an inbox row and an effect row per event, one transaction
per batch, offsets committed after it). No validation, no business rules, no outbox."""

from __future__ import annotations

import json
import time

import asyncpg
from aiokafka import AIOKafkaConsumer

from bench.kafka_offsets import Offsets

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS raw_baseline;
CREATE TABLE IF NOT EXISTS raw_baseline.inbox (
    handler text NOT NULL, event_id text NOT NULL, topic text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (handler, event_id));
CREATE TABLE IF NOT EXISTS raw_baseline.effects (
    event_id text PRIMARY KEY, type text NOT NULL, subject text, payload jsonb NOT NULL);
"""


async def raw_drain(
    bootstrap: str, database_url: str, topics: tuple[str, ...], name: str
) -> tuple[int, float]:
    """(events, seconds) to consume and write everything now on `topics`."""
    async with Offsets(bootstrap) as off:
        target = await off.end_total(topics)
    conn = await asyncpg.connect(database_url)
    await conn.execute(SCHEMA)
    await conn.execute("TRUNCATE raw_baseline.inbox, raw_baseline.effects")
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=f"raw-baseline-{name}-{time.time_ns()}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=2000,
        fetch_max_bytes=50 * 1024 * 1024,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    started = time.monotonic()
    await consumer.start()
    done = 0
    try:
        while done < target:
            batch = await consumer.getmany(timeout_ms=500, max_records=2000)
            records = [r for recs in batch.values() for r in recs]
            if not records:
                continue
            inbox, effects = [], []
            for r in records:
                doc = json.loads(r.value)
                inbox.append((name, doc["id"], r.topic))
                effects.append((doc["id"], doc["type"], doc.get("subject"), r.value.decode()))
            async with conn.transaction():
                await conn.executemany(
                    "INSERT INTO raw_baseline.inbox (handler, event_id, topic) VALUES ($1, $2, $3)"
                    " ON CONFLICT DO NOTHING",
                    inbox,
                )
                await conn.executemany(
                    "INSERT INTO raw_baseline.effects VALUES ($1, $2, $3, $4::jsonb)"
                    " ON CONFLICT DO NOTHING",
                    effects,
                )
            await consumer.commit()
            done += len(records)
    finally:
        await consumer.stop()
        await conn.close()
    return done, time.monotonic() - started
