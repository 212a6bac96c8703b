"""Consumer lag of every consumer group, read from Kafka itself.

Each service exports `hospital_consumer_lag` for its own partitions, but only while it runs:
a service that is down, stuck or crash-looping exports nothing, exactly when its lag matters.
The metrics service therefore also reads every group's committed offsets and the topics' end
offsets from the broker and exports `hospital_consumer_group_lag{group, topic}`. Groups a
release has retired (metrics' and follow-up's one group per topic, each replaced by one group;
`METRICS_RETIRED_CONSUMER_GROUPS`) are left out: their offsets stay until the broker expires
them (`offsets.retention.minutes`), and would show a lag that grows for nothing. Whether a
retired group has members again (a rollback) is not asked: aiokafka 0.14's DescribeGroups
cannot read Kafka 4.1's answer ("Buffer underrun decoding string"), so a rollback of
follow-up sets `METRICS_RETIRED_CONSUMER_GROUPS=[]` (CHANGELOG).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


class GroupLagReader:
    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str,
        options: dict[str, Any] | None = None,
        retired: Collection[str] = (),
    ) -> None:
        self._bootstrap = bootstrap
        self._retired = frozenset(retired)
        self._options = options or {}  # TLS / SASL: hospital_shared.kafka_security
        self._client_id = f"{client_id}-lag"
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def _connect(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        # Made inside the running loop (aiokafka needs one), on first use.
        if self._admin is None or self._consumer is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self._bootstrap, client_id=self._client_id, **self._options
            )
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap,
                client_id=self._client_id,
                enable_auto_commit=False,
                **self._options,
            )
            await admin.start()
            await consumer.start()
            self._admin, self._consumer = admin, consumer
        return self._admin, self._consumer

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()

    async def read(self) -> list[tuple[dict[str, str], float]]:
        """[({group, topic}, records not yet committed)] for every group with commits."""
        admin, consumer = await self._connect()
        committed: dict[str, dict[TopicPartition, int]] = {}
        for group in await admin.list_consumer_groups():
            group_id = str(group[0])
            if group_id in self._retired:
                continue
            offsets = await admin.list_consumer_group_offsets(group_id)
            committed[group_id] = {tp: om.offset for tp, om in offsets.items() if om.offset >= 0}
        partitions = {tp for offsets in committed.values() for tp in offsets}
        if not partitions:
            return []
        ends = await consumer.end_offsets(list(partitions))
        lag: dict[tuple[str, str], int] = {}
        for group_id, offsets in committed.items():
            for tp, offset in offsets.items():
                key = (group_id, tp.topic)
                lag[key] = lag.get(key, 0) + max(0, ends.get(tp, offset) - offset)
        return [({"group": g, "topic": t}, float(v)) for (g, t), v in sorted(lag.items())]
