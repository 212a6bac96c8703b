"""Where consumer groups are: end offsets of topics and committed offsets of groups."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


class Offsets:
    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)

    async def __aenter__(self) -> Offsets:
        await self.admin.start()
        await self.consumer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def partitions(self, topic: str) -> list[TopicPartition]:
        parts = self.consumer.partitions_for_topic(topic)
        if not parts:
            await self.consumer._client.force_metadata_update()
            parts = self.consumer.partitions_for_topic(topic) or set()
        return [TopicPartition(topic, p) for p in sorted(parts)]

    async def end_total(self, topics: Iterable[str]) -> int:
        tps = [tp for t in topics for tp in await self.partitions(t)]
        ends = await self.consumer.end_offsets(tps)
        return sum(ends.values())

    async def groups(self, prefix: str) -> list[str]:
        listed = await self.admin.list_consumer_groups()
        return sorted(g[0] for g in listed if g[0].startswith(prefix))

    async def committed_total(self, groups: Iterable[str]) -> int:
        total = 0
        for group in groups:
            offsets = await self.admin.list_consumer_group_offsets(group)
            total += sum(max(0, meta.offset) for meta in offsets.values())
        return total
