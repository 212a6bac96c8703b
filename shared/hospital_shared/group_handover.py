"""A consumer group that replaces others starts where they stopped.

When a service merges several consumer groups into one (metrics: one group for its nine
topics instead of one group per topic), the new group has no committed offsets of its own. It
would start from the earliest records (`auto_offset_reset`) and read the topics' whole
retention again. Before the group first joins, `take_over` therefore commits, for the group,
the offsets the replaced groups had committed, for every partition the group has none of yet.

What is safe about it:
- the replaced groups are only read, never changed: code of the release before still finds
  its offsets if it is rolled back to;
- a partition the group already has an offset for keeps it (a restart, or a later release);
- an event both groups read (the window between a batch's transaction and its offset
  commit, or a rolling upgrade where old and new instances run together) is handled once:
  the consumer keeps the replaced consumers' inbox names (`ReliableConsumer.inbox_names`);
- when another instance has joined the group already, it has taken over: the commit is
  refused by the broker (the group is not empty) and nothing more is done.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

log = structlog.get_logger(__name__)

RETRY_FOR_S = 60.0


async def offsets_to_take_over(
    admin: AIOKafkaAdminClient, group: str, replaced: Mapping[str, str]
) -> dict[TopicPartition, int]:
    """For each partition of a replaced group's topic (`replaced`: old group -> its topic)
    that `group` has no committed offset for, the offset the old group committed."""
    own = await admin.list_consumer_group_offsets(group)
    held = {tp for tp, meta in own.items() if meta.offset >= 0}
    wanted: dict[TopicPartition, int] = {}
    for old_group, topic in replaced.items():
        for tp, meta in (await admin.list_consumer_group_offsets(old_group)).items():
            if tp.topic == topic and meta.offset >= 0 and tp not in held:
                wanted[tp] = meta.offset
    return wanted


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
        await consumer.commit(wanted)
    except KafkaError as exc:
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
