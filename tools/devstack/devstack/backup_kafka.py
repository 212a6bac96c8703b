"""The Kafka side of a backup (tools/devstack/devstack/backup.py): the consumer groups'
committed offsets, read when a backup is taken, and put back when it is restored."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from devstack.procs import StackError

Offsets = dict[str, dict[str, dict[str, int]]]  # group -> topic -> partition -> offset


class GroupBusy(StackError):
    """A consumer group still has members: its service runs."""


async def committed_offsets(bootstrap: str) -> Offsets:
    """Every consumer group's committed offsets (those it has committed at all)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await start_client(admin, bootstrap)
    try:
        found: Offsets = {}
        for group in await admin.list_consumer_groups():
            group_id = str(group[0])
            for tp, om in (await admin.list_consumer_group_offsets(group_id)).items():
                if om.offset >= 0:
                    topic = found.setdefault(group_id, {}).setdefault(tp.topic, {})
                    topic[str(tp.partition)] = om.offset
        return found
    finally:
        await admin.close()


def offsets_to_restore(recorded: Offsets, now: Offsets) -> Offsets:
    """What each group must be set to: its recorded offsets, and for every group and topic
    that has committed offsets now but had none at the backup (a group that had not yet
    committed then, or a topic it reads since), no offset, that is, the partition's start:
    what it handled is not in the restored database, so it must handle it again."""
    wanted: Offsets = {}
    for group in sorted(set(recorded) | set(now)):
        topics = set(recorded.get(group, {})) | set(now.get(group, {}))
        wanted[group] = {t: dict(recorded.get(group, {}).get(t, {})) for t in sorted(topics)}
    return wanted


async def reset_offsets(bootstrap: str, offsets: Offsets) -> None:
    """Commit each group's recorded offsets; a partition of one of its topics with no
    recorded offset goes to the partition's start (the services read from the earliest), and
    so does a recorded offset below it (a loss the operator accepted, `lost_events`): an
    offset out of range would leave the position to each consumer's `auto_offset_reset`.

    The broker takes such a commit (no member, no generation) only from a group without
    members: a running service's group refuses it, and the restore stops there, before the
    database is touched. Going back in Kafka alone is harmless: what is read again, the
    inboxes skip."""
    for group_id, topics in offsets.items():
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False
        )
        await start_client(consumer, bootstrap)
        try:
            await consumer._client.force_metadata_update()  # every topic's partitions
            parts = [
                TopicPartition(topic, p)
                for topic in topics
                for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            if not parts:
                raise StackError(f"group {group_id}: none of its topics exists: {list(topics)}")
            consumer.assign(parts)
            starts = await consumer.beginning_offsets(parts)
            commit = {
                tp: OffsetAndMetadata(
                    max(topics[tp.topic].get(str(tp.partition), 0), starts[tp]), ""
                )
                for tp in parts
            }
            try:
                await consumer.commit(commit)
            except KafkaError as exc:
                raise GroupBusy(f"stop the services first: group {group_id} refused the "
                                f"reset ({type(exc).__name__})") from exc  # fmt: skip
        finally:
            await consumer.stop()


class EventsLost(StackError):
    """Kafka no longer holds events a restore would have to replay (`lost_events`)."""


@dataclass(frozen=True)
class Lost:
    """One partition a group would resume on past events Kafka has deleted (retention): the
    events between its recorded offset and the partition's first one are in neither the
    dump nor Kafka, so their effects (follow-up tasks, planned SMS) never come back."""

    group: str
    topic: str
    partition: int
    recorded: int
    earliest: int

    def __str__(self) -> str:
        return (
            f"group {self.group}, topic {self.topic}, partition {self.partition}: "
            f"{self.earliest - self.recorded} events lost (recorded offset {self.recorded}, "
            f"Kafka now starts at {self.earliest})"
        )


async def lost_events(bootstrap: str, recorded: Offsets) -> list[Lost]:
    """Every recorded offset below its partition's first offset. A partition or topic that
    no longer exists is left to `reset_offsets`; a partition the group had no offset on at
    the backup goes to the start anyway (`offsets_to_restore`)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await start_client(consumer, bootstrap)
    try:
        await consumer._client.force_metadata_update()
        parts = {
            TopicPartition(topic, int(p))
            for topics in recorded.values()
            for topic, partitions in topics.items()
            for p in partitions
            if int(p) in (consumer.partitions_for_topic(topic) or ())
        }
        starts = await consumer.beginning_offsets(sorted(parts)) if parts else {}
    finally:
        await consumer.stop()
    return [
        Lost(group, topic, int(p), offset, starts[TopicPartition(topic, int(p))])
        for group, topics in sorted(recorded.items())
        for topic, partitions in sorted(topics.items())
        for p, offset in sorted(partitions.items(), key=lambda kv: int(kv[0]))
        if TopicPartition(topic, int(p)) in starts
        and offset < starts[TopicPartition(topic, int(p))]
    ]


def loss_report(lost: list[Lost]) -> str:
    """The lost events by partition, and how many in all (the restore's refusal or warning)."""
    total = sum(item.earliest - item.recorded for item in lost)
    lines = "\n".join(f"  {item}" for item in lost)
    return (
        f"Kafka no longer holds {total} events the restore would have to replay (the topics'"
        f" retention is shorter than the backup's age):\n{lines}"
    )


async def start_client(client: AIOKafkaConsumer | AIOKafkaAdminClient, bootstrap: str) -> None:
    """Start a Kafka client: Kafka not answering is a clear error naming where it was looked
    for (it was a KafkaConnectionError traceback)."""
    try:
        await client.start()
    except KafkaError as exc:
        with contextlib.suppress(Exception):  # what the failed start opened
            await (client.stop() if isinstance(client, AIOKafkaConsumer) else client.close())
        raise StackError(
            f"Kafka at {bootstrap} cannot be reached ({type(exc).__name__}): is it running?"
        ) from exc
