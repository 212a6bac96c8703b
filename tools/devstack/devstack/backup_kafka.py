"""The Kafka side of a backup (tools/devstack/devstack/backup.py): the consumer groups'
committed offsets, read when a backup is taken, and put back when it is restored."""

from __future__ import annotations

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
    await admin.start()
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
    recorded offset goes to the partition's start (the services read from the earliest).

    The broker takes such a commit (no member, no generation) only from a group without
    members: a running service's group refuses it, and the restore stops there, before the
    database is touched. Going back in Kafka alone is harmless: what is read again, the
    inboxes skip."""
    for group_id, topics in offsets.items():
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False
        )
        await consumer.start()
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
                tp: OffsetAndMetadata(topics[tp.topic].get(str(tp.partition), starts[tp]), "")
                for tp in parts
            }
            try:
                await consumer.commit(commit)
            except KafkaError as exc:
                raise GroupBusy(f"stop the services first: group {group_id} refused the "
                                f"reset ({type(exc).__name__})") from exc  # fmt: skip
        finally:
            await consumer.stop()
