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
            total += await self.committed_on(group)
        return total

    async def committed_on(self, group: str, topics: Iterable[str] | None = None) -> int:
        """The offsets `group` has committed, summed over its partitions of `topics` (all of
        its topics when None); 0 for a group that has committed nothing yet."""
        wanted = None if topics is None else set(topics)
        offsets = await self.admin.list_consumer_group_offsets(group)
        return sum(
            max(0, meta.offset)
            for tp, meta in offsets.items()
            if wanted is None or tp.topic in wanted
        )

    async def commit_ends(self, group: str, topics: Iterable[str]) -> None:
        """Commit the end of `topics` (those that exist) for `group`, which is not running:
        it starts there, with nothing to read."""
        tps = [tp for t in topics for tp in await self.partitions(t)]
        if not tps:
            return
        ends = await self.consumer.end_offsets(tps)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            consumer.assign(tps)
            await consumer.commit(ends)
        finally:
            await consumer.stop()
