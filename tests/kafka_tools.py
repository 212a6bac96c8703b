"""Reading and writing the real Kafka in tests."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


async def publish(
    bootstrap: str,
    topic: str,
    records: list[tuple[str | None, bytes]],
    *,
    max_request_size: int = 1048576,
) -> list[Any]:
    """Send `records` in order and wait for every ack (`max_request_size`: the client's own
    limit; raise it to send a record as big as the broker takes). Where each went: a
    RecordMetadata (topic, partition, offset) per record."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        max_request_size=max_request_size,
    )
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value=value, key=key.encode() if key else None)
            for key, value in records
        ]
        return list(await asyncio.gather(*futures))
    finally:
        await producer.stop()


async def committed_past(bootstrap: str, group: str, record: Any) -> bool:
    """Whether consumer group `group` has committed its offset past `record` (anything with a
    topic, partition and offset): every record up to it is handled, and its transaction was
    committed before the offset was."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        committed = await consumer.committed(TopicPartition(record.topic, record.partition))
    finally:
        await consumer.stop()
    return committed is not None and committed > record.offset


async def publish_one_per_partition(
    bootstrap: str, topic: str, records: list[tuple[str | None, bytes]]
) -> None:
    """`records[i]` to partition i of `topic`: markers that follow everything sent before on
    every partition, for proving that a consumer has got that far."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value=value, key=key.encode() if key else None, partition=i)
            for i, (key, value) in enumerate(records)
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def read_all(bootstrap: str, topic: str) -> list[ConsumerRecord[Any, Any]]:
    """Every record on `topic` right now, from the beginning of every partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if partitions is None:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[ConsumerRecord[Any, Any]] = []
        pending = {tp for tp in tps if ends[tp] > 0}
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, recs in batch.items():
                records.extend(recs)
                if recs and recs[-1].offset + 1 >= ends[tp]:
                    pending.discard(tp)
        return records
    finally:
        await consumer.stop()


def json_values(records: list[ConsumerRecord[Any, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in records:
        try:
            out.append(json.loads(r.value))
        except (ValueError, TypeError):
            continue
    return out


async def eventually(
    check: Callable[[], Any], *, timeout: float = 60, interval: float = 0.25
) -> Any:
    """Poll an async or sync `check` until it returns a truthy value; fail after `timeout`.
    Every 0.25 s, not 0.5: a wait overshoots its condition by half the interval on average, and
    a suite run has a few hundred of them."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


async def end_offsets(bootstrap: str, names: Sequence[str]) -> dict[TopicPartition, int]:
    """The end offset of every partition of `names`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(t, p) for t in names for p in consumer.partitions_for_topic(t) or ()]
        return dict(await consumer.end_offsets(tps))
    finally:
        await consumer.stop()


async def commit(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    """Commit `offsets` for `group`, as a consumer of that group would."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def committed(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    """The offsets `group` has committed, by partition (none: not there)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        found = await admin.list_consumer_group_offsets(group)
        return {tp: meta.offset for tp, meta in found.items() if meta.offset >= 0}
    finally:
        await admin.close()
