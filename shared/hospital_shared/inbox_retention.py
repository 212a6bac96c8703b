"""The inbox's retention: a row is kept while Kafka could still deliver its event again.

Every consumer writes one inbox row for each event it handles (consumer.py), so that an event
delivered again (a restart before the offsets were committed, a rebalance, offsets reset to
the earliest after the group's offsets expired, a restore from a backup) is skipped. Nothing
deleted these rows: one a service and event, for ever.

Kafka can deliver a record again only while it holds it. It deletes a partition's oldest log
segment once the segment's largest record timestamp is older than the topic's `retention.ms`,
and a segment takes records for up to `segment.ms` before a new one is started; so a record
is gone by `segment.ms` + `retention.ms` after its timestamp. Its timestamp is the time it
was written (`LogAppendTime`) or the producer's (`CreateTime`), which the broker accepts up
to `message.timestamp.after.max.ms` ahead of its own clock (Kafka 3.6+; before that
`message.timestamp.difference.max.ms`): that much more. An inbox row handled longer ago than
the sum, plus `inbox_keep_extra_days` (the broker's retention check, clocks), protects
nothing from Kafka; it is still kept at least `inbox_keep_min_days`, for the same event
written to Kafka again later as a new record (dead letters replayed to their topic after a
fix, an outbox batch published again after a crash or a restore). A topic whose records Kafka
keeps for ever (`retention.ms` -1, compacted, or no bound on producers' timestamps: Kafka 3's
default) keeps its rows for ever, and each pass logs which; a topic Kafka cannot describe (not there, or the service's Kafka user lacks
`DESCRIBE_CONFIGS` on it) keeps them this pass. The settings are read from Kafka at every
pass: a retention lengthened applies from the next pass on.

The rows hold event ids and topic names, no personal data: this is about the table's size
(one row per event per service: tens of millions a year in a large hospital), not privacy.
One instance of a service purges at a time (an advisory lock). A pass walks the index on
`processed_at` once, oldest first, deleting up to `BATCH_SIZE` rows a statement, each
statement starting where the one before it ended (not at the oldest entry again, which
would step over every row deleted before it until vacuum: a first pass over a years-old
inbox would never end), and the next pass where this one ended (`Purger`). An index on
(topic, processed_at) would need no walk, but made every consumer's inbox insert ~3 us a row
dearer (bench/inbox_index.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
# A keep longer than this is "for ever" (retention.ms Long.MAX_VALUE, a bound on producers'
# timestamps of centuries): PostgreSQL's intervals and Python's timedelta end sooner.
FOR_EVER = timedelta(days=36_500)
_NEEDED = ("cleanup.policy", "retention.ms", "segment.ms")
_TIMESTAMPS = (
    "message.timestamp.type",
    "message.timestamp.after.max.ms",  # Kafka 3.6+
    "message.timestamp.difference.max.ms",  # before 3.6 (and still there, deprecated)
)
_UNKNOWN_TOPIC = 3
# One instance of a service at a time: the two-key form (its own key space, apart from the
# one-key transaction locks elsewhere), "inbx" and the schema.
PURGE_LOCK = "1768841848, hashtext(current_schema())"

# One batch of a walk through the index on processed_at, oldest first, from where the last
# batch of the walk ended ($1): each batch starts past the rows deleted before it, which stay
# in the index until vacuum. Rows of topics kept longer are stepped over, not deleted.
_DELETE = """
WITH gone AS (
    DELETE FROM inbox WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM inbox
         WHERE processed_at >= $1 AND processed_at < now() - make_interval(secs => $2)
           AND topic = ANY($3::text[])
         ORDER BY processed_at
         LIMIT $4))
    RETURNING topic, processed_at)
SELECT topic, count(*) AS n, max(processed_at) AS reached FROM gone GROUP BY topic
"""


@dataclass(frozen=True, slots=True)
class TopicRetention:
    """What Kafka says of how long it keeps a topic's records."""

    cleanup_policy: str
    retention_ms: int
    segment_ms: int
    # CreateTime: how far ahead of the broker's clock a producer's timestamp may be (None:
    # unbounded); LogAppendTime: 0.
    timestamp_ahead_ms: int | None = 0

    def inbox_keep(self, extra: timedelta, least: timedelta = timedelta(0)) -> timedelta | None:
        """How long after handling an event of this topic its inbox row is kept: `extra`
        beyond the last moment Kafka could deliver the event again, and at least `least`;
        None: for ever (Kafka may deliver it again at any time)."""
        if "compact" in self.cleanup_policy or self.retention_ms < 0:
            return None
        if self.timestamp_ahead_ms is None:
            return None
        redelivery_ms = self.retention_ms + max(0, self.segment_ms) + self.timestamp_ahead_ms
        if redelivery_ms > FOR_EVER / timedelta(milliseconds=1):
            return None
        return max(timedelta(milliseconds=redelivery_ms) + extra, least)


def _ahead_ms(values: Mapping[str, str | None]) -> int | None:
    if values.get("message.timestamp.type") == "LogAppendTime":
        return 0
    bound = values.get("message.timestamp.after.max.ms")
    if bound is None:
        bound = values.get("message.timestamp.difference.max.ms")
    return None if bound is None else max(0, int(bound))


def parse_describe_configs(responses: Iterable[Any]) -> dict[str, TopicRetention]:
    """The topics of aiokafka's DescribeConfigs responses that Kafka described without an
    error and with the settings needed; an error other than "no such topic" (error 3) is
    logged: the service's Kafka user may lack DESCRIBE_CONFIGS on the topic."""
    found: dict[str, TopicRetention] = {}
    for response in responses:
        for error_code, message, _type, name, entries in response.resources:
            if error_code != 0:
                if error_code != _UNKNOWN_TOPIC:
                    log.warning(
                        "inbox retention: Kafka did not describe a topic; its rows are kept",
                        topic=name,
                        error_code=error_code,
                        error=message,
                    )
                continue
            values = {entry[0]: entry[1] for entry in entries}
            if any(values.get(key) is None for key in _NEEDED):
                continue
            try:
                found[name] = TopicRetention(
                    cleanup_policy=values["cleanup.policy"],
                    retention_ms=int(values["retention.ms"]),
                    segment_ms=int(values["segment.ms"]),
                    timestamp_ahead_ms=_ahead_ms(values),
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
    try:
        await admin.start()
        resources = [
            ConfigResource(ConfigResourceType.TOPIC, topic, dict.fromkeys(_NEEDED + _TIMESTAMPS))
            for topic in sorted(set(topics))
        ]
        return parse_describe_configs(await admin.describe_configs(resources))
    finally:
        await admin.close()


class Purger:
    """The passes of one service's inbox retention. Each group of topics kept alike (usually
    all of them: `least` is longer than Kafka 4's defaults) is purged in one walk of the
    index on `processed_at`, and the next pass of that group starts where the last one ended:
    below it are only rows the walk keeps (of topics kept longer, or for ever), which a walk
    from the oldest row would step over again at every pass, more of them every hour."""

    def __init__(
        self, *, service: str, extra: timedelta, least: timedelta = timedelta(0),
        batch_size: int = BATCH_SIZE,
    ) -> None:  # fmt: skip
        self.service = service
        self.extra = extra
        self.least = least
        self.batch_size = batch_size
        # (keep, its topics) -> the processed_at the group's last walk reached
        self._reached: dict[tuple[timedelta, tuple[str, ...]], datetime] = {}

    async def purge(
        self, pool: asyncpg.Pool, retention: Mapping[str, TopicRetention], topics: Iterable[str]
    ) -> dict[str, int]:
        """Delete the inbox rows of `topics` that Kafka can no longer deliver again, by the
        settings in `retention` (TopicRetention.inbox_keep); returns the rows deleted by
        topic. A topic missing from `retention` is not touched. Nothing, when another
        instance of the service is purging (its advisory lock)."""
        alike: dict[timedelta, list[str]] = {}
        kept = {}
        for topic in sorted(set(topics) & set(retention)):
            keep = retention[topic].inbox_keep(self.extra, self.least)
            if keep is None:
                kept[topic] = retention[topic]
            else:
                alike.setdefault(keep, []).append(topic)
        if kept:
            log.info("inbox retention: rows kept for ever (Kafka may deliver them again)",
                     topics={t: str(r) for t, r in kept.items()})  # fmt: skip
        deleted: dict[str, int] = {}
        async with pool.acquire() as conn:
            try:
                if not await conn.fetchval(f"SELECT pg_try_advisory_lock({PURGE_LOCK})"):
                    log.info("inbox retention: another instance is purging, pass skipped")
                    return deleted
                for keep, kept_alike in sorted(alike.items()):
                    for topic, n in (await self._walk(conn, (keep, tuple(kept_alike)))).items():
                        INBOX_PURGED.labels(self.service, topic).inc(n)
                        deleted[topic] = n
                await conn.execute(f"SELECT pg_advisory_unlock({PURGE_LOCK})")
            except BaseException:
                # The lock is the session's: whatever failed, the connection goes, and the
                # lock with it, rather than back to the pool (db.keep_session unlocks nothing).
                conn.terminate()
                raise
        if deleted:
            log.info("inbox rows past redelivery deleted", deleted=deleted)
        return deleted

    async def _walk(
        self, conn: asyncpg.Connection, group: tuple[timedelta, tuple[str, ...]]
    ) -> dict[str, int]:
        keep, topics = group
        deleted: dict[str, int] = {}
        reached = self._reached.get(group, datetime.min.replace(tzinfo=UTC))
        while True:
            rows = await conn.fetch(
                _DELETE, reached, keep.total_seconds(), list(topics), self.batch_size
            )
            for row in rows:
                deleted[row["topic"]] = deleted.get(row["topic"], 0) + row["n"]
                reached = max(reached, row["reached"])
            self._reached[group] = reached
            if sum(row["n"] for row in rows) < self.batch_size:
                return deleted
