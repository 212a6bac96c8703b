"""The outbox relay's batch publishing on the real Kafka: every record arrives once, on the
partition `producer.send` would have chosen for its key, in the order it was given."""

from __future__ import annotations

import uuid
from collections import defaultdict

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import DefaultPartitioner

from hospital_shared.publishing import publish_records
from tests.kafka_tools import read_all

PARTITIONS = 5


async def test_records_arrive_once_in_order_on_the_keys_partition(stack_env) -> None:  # type: ignore[no-untyped-def]
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    topic = f"publishing.test.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        await admin.close()
    # Small batches, so that one call fills and sends several per partition.
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", max_batch_size=2048
    )
    await producer.start()
    records = [(topic, f"patient-{n % 23}", f"event {n} ".encode() * 8) for n in range(1500)]
    try:
        await publish_records(producer, records[:1000])
        await publish_records(producer, records[1000:])
    finally:
        await producer.stop()

    got = await read_all(bootstrap, topic)
    assert sorted(r.value for r in got) == sorted(payload for _, _, payload in records)
    by_key: dict[bytes, list[tuple[int, int, bytes]]] = defaultdict(list)
    for r in got:
        by_key[r.key].append((r.partition, r.offset, r.value))
    every_partition = list(range(PARTITIONS))
    for key, seen in by_key.items():
        assert {p for p, _, _ in seen} == {DefaultPartitioner()(key, every_partition, [])}
        sent = [payload for _, k, payload in records if k.encode() == key]
        assert [v for _, _, v in sorted(seen)] == sent  # offsets follow the order given
