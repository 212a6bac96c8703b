"""The inbox's retention: a row is kept while Kafka could still deliver its event again.

Every consumer writes one inbox row for each event it handles (consumer.py), so that an event
delivered again (a restart before the offsets were committed, a rebalance, offsets reset to
the earliest after the group's offsets expired, a restore from a backup) is skipped. Nothing
deleted these rows: one a service and event, for ever.

Kafka can deliver a record again only while it holds it. A topic deletes a log segment once
the newest record in it is older than the topic's `retention.ms`, and a segment takes records
for up to `segment.ms` before a new one is started; so a record is gone by `segment.ms` +
`retention.ms` after it was written, and it was written before it was handled. An inbox row
handled longer ago than that, plus `inbox_keep_extra_days` (the broker's retention check
interval, producers' clocks), protects nothing and is deleted. The topics' settings are read
from Kafka at every pass, so a topic whose retention an operator lengthens keeps its rows
longer from the next pass on. A topic whose records Kafka keeps for ever (`retention.ms` -1,
or compacted) keeps its rows for ever; a topic Kafka cannot describe keeps them this pass.

The rows hold event ids and topic names, no personal data: this is about the table's size
(one row per event per service: tens of millions a year in a large hospital), not privacy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import structlog
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from prometheus_client import Counter

log = structlog.get_logger(__name__)

INBOX_PURGED = Counter(
    "hospital_inbox_purged_total",
    "Inbox rows deleted because Kafka can no longer deliver their events again",
    ["service", "topic"],
)

# Rows deleted in one statement (its own transaction): short locks, and a pass interrupted
# half-way has deleted whole batches only.
BATCH_SIZE = 5000
_CONFIGS = ("cleanup.policy", "retention.ms", "segment.ms")

_DELETE = """
DELETE FROM inbox WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM inbox
     WHERE topic = $1 AND processed_at < now() - make_interval(secs => $2)
     LIMIT $3))
"""


@dataclass(frozen=True, slots=True)
class TopicRetention:
    """What Kafka says of how long it keeps a topic's records."""

    cleanup_policy: str
    retention_ms: int
    segment_ms: int

    def inbox_keep(self, extra: timedelta) -> timedelta | None:
        """How long after handling an event of this topic its inbox row is still needed; None:
        for ever (Kafka may deliver the event again at any time)."""
        if "compact" in self.cleanup_policy or self.retention_ms < 0:
            return None
        return timedelta(milliseconds=self.retention_ms + max(0, self.segment_ms)) + extra


def parse_describe_configs(responses: Iterable[Any]) -> dict[str, TopicRetention]:
    """The topics of aiokafka's DescribeConfigs responses that Kafka described without an
    error and with all three settings (a topic it does not know comes back with error 3)."""
    found: dict[str, TopicRetention] = {}
    for response in responses:
        for error_code, _message, _type, name, entries in response.resources:
            values = {entry[0]: entry[1] for entry in entries}
            if error_code != 0 or any(values.get(key) is None for key in _CONFIGS):
                continue
            try:
                found[name] = TopicRetention(
                    cleanup_policy=values["cleanup.policy"],
                    retention_ms=int(values["retention.ms"]),
                    segment_ms=int(values["segment.ms"]),
                )
            except ValueError:
                continue  # not a number: this topic is left alone
    return found


async def describe_topics(
    bootstrap_servers: str, topics: Iterable[str], options: Mapping[str, Any]
) -> dict[str, TopicRetention]:
    """The retention settings Kafka applies to `topics` (its defaults where a topic sets none)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, request_timeout_ms=10000, **options
    )
    await admin.start()
    try:
        resources = [
            ConfigResource(ConfigResourceType.TOPIC, topic, dict.fromkeys(_CONFIGS))
            for topic in sorted(set(topics))
        ]
        return parse_describe_configs(await admin.describe_configs(resources))
    finally:
        await admin.close()


async def purge(
    pool: asyncpg.Pool,
    retention: Mapping[str, TopicRetention],
    topics: Iterable[str],
    *,
    service: str,
    extra: timedelta,
    batch_size: int = BATCH_SIZE,
) -> dict[str, int]:
    """Delete the inbox rows of `topics` that Kafka can no longer deliver again, by the
    settings in `retention`; returns the rows deleted by topic. A topic missing from
    `retention` is not touched."""
    deleted: dict[str, int] = {}
    kept: list[str] = []  # kept for ever, or this pass (not described)
    for topic in sorted(set(topics)):
        keep = retention[topic].inbox_keep(extra) if topic in retention else None
        if keep is None:
            kept.append(topic)
            continue
        total = 0
        while True:
            status = await pool.execute(_DELETE, topic, keep.total_seconds(), batch_size)
            count = int(status.split()[-1])
            total += count
            if count < batch_size:
                break
        if total:
            INBOX_PURGED.labels(service, topic).inc(total)
            deleted[topic] = total
    if deleted or kept:
        log.info("inbox rows past redelivery deleted", deleted=deleted, kept=kept)
    return deleted
