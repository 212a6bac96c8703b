"""A consumer group that replaces others starts where they stopped.

When a service merges several consumer groups into one (metrics: one group for its nine
topics instead of one group per topic), the new group has no committed offsets of its own. It
would start from the earliest records (`auto_offset_reset`) and read the topics' whole
retention again. Before the group joins, `take_over` therefore commits, for the group, the
offset a replaced group has committed on each partition where that is further than the
group's own (or the group has none).

Why further is always right: a replaced group commits an offset only after what comes before
it has been handled (its transaction committed), and the consumer keeps the replaced
consumers' inbox names (`ReliableConsumer.inbox_names`), so whatever either group handled is
skipped by the other. The rule covers:
- the first start after the upgrade (the group has no offsets);
- a restart, or a later release (the group is already further: nothing is committed);
- a rollback to the release before and an upgrade again (the old groups moved on meanwhile:
  the group jumps to where they got, instead of reading that stretch again);
- a backup restored from before the upgrade (`devstack backup` puts a group it did not record
  at the partitions' start, the old groups at their recorded offsets: the group starts there).

The replaced groups are only read, never changed: code of the release before still finds its
offsets when rolled back to. When another instance has joined the group already, the broker
refuses the commit (the group is not empty): that instance took over, and nothing more is
done. Any other error stops the start: a wrong guess would cost a read of the whole retention.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    CommitFailedError,
    CoordinatorLoadInProgressError,
    KafkaError,
    NoError,
    UnknownTopicOrPartitionError,
    for_code,
)

log = structlog.get_logger(__name__)

RETRY_FOR_S = 60.0
COMMIT_TIMEOUT_S = 30.0


async def offsets_to_take_over(
    admin: AIOKafkaAdminClient, group: str, replaced: Mapping[str, str]
) -> dict[TopicPartition, int]:
    """For each partition of a replaced group's topic (`replaced`: old group -> its topic)
    where the old group has committed further than `group`, the old group's offset."""
    partitions = await topic_partitions(admin, set(replaced.values()))
    wanted: dict[TopicPartition, int] = {}
    for old_group, topic in replaced.items():
        mine = [tp for tp in partitions if tp.topic == topic]
        for tp, offset in (await committed_offsets(admin, old_group, mine)).items():
            if offset >= 0:
                wanted[tp] = offset
    if not wanted:
        return {}
    own = await committed_offsets(admin, group, list(wanted))
    return {tp: n for tp, n in wanted.items() if n > own[tp]}


async def topic_partitions(admin: AIOKafkaAdminClient, topics: set[str]) -> list[TopicPartition]:
    """Every partition of `topics` (a topic that does not exist has none)."""
    found: list[TopicPartition] = []
    for topic in await admin.describe_topics(sorted(topics)):
        error = for_code(topic["error_code"])
        if error is UnknownTopicOrPartitionError:
            continue
        if error is not NoError:
            raise error(f"metadata of topic {topic['topic']}")
        found += [TopicPartition(topic["topic"], p["partition"]) for p in topic["partitions"]]
    return found


async def committed_offsets(
    admin: AIOKafkaAdminClient, group: str, partitions: list[TopicPartition]
) -> dict[TopicPartition, int]:
    """`group`'s committed offset of each of `partitions` (-1: none). The broker answers a
    named partition even where nothing is committed; an answer without it is a group-level
    error (its coordinator still loading, moved) that aiokafka does not raise: raised here as
    retriable, so that it is never read as "no offsets"."""
    if not partitions:
        return {}
    found = await admin.list_consumer_group_offsets(group, partitions=partitions)
    missing = [tp for tp in partitions if tp not in found]
    if missing:
        raise CoordinatorLoadInProgressError(
            f"group {group}: no answer for {len(missing)} of {len(partitions)} partitions"
        )
    return {tp: found[tp].offset for tp in partitions}


async def _retrying(
    read: Callable[[], Awaitable[dict[TopicPartition, int]]], group: str
) -> dict[TopicPartition, int]:
    """`read()`, again while the broker answers with a retriable error for up to
    `RETRY_FOR_S` (a new cluster has no group coordinator for its first seconds)."""
    deadline = time.monotonic() + RETRY_FOR_S
    delay = 0.2
    while True:
        try:
            return await read()
        except KafkaError as exc:
            if not exc.retriable or time.monotonic() + delay > deadline:
                raise
            log.info("consumer group offsets not readable yet", group=group, error=repr(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def take_over(
    bootstrap: str,
    group: str,
    replaced: Mapping[str, str],
    *,
    client_id: str,
    options: Mapping[str, Any] | None = None,
) -> dict[TopicPartition, int]:
    """Commit for `group` the offsets of the groups it replaces (old group -> its topic) on
    the partitions it has none of; returns what was committed (empty: nothing to take)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id=f"{client_id}-handover", **(options or {})
    )
    await admin.start()
    try:
        wanted = await _retrying(lambda: offsets_to_take_over(admin, group, replaced), group)
    finally:
        await admin.close()
    if not wanted:
        return {}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id=f"{client_id}-handover",
        enable_auto_commit=False,
        **(options or {}),
    )
    await consumer.start()
    try:
        consumer.assign(list(wanted))
        async with asyncio.timeout(COMMIT_TIMEOUT_S):
            await consumer.commit(wanted)
    except CommitFailedError as exc:
        # The group has members: an instance that joined first has taken over already.
        log.info("consumer group taken over already", group=group, error=repr(exc))
        return {}
    finally:
        await consumer.stop()
    log.info(
        "consumer group took over the offsets of the groups it replaces",
        group=group,
        replaced=sorted(replaced),
        partitions=len(wanted),
    )
    return wanted
