"""The inbox's retention on the real Kafka and PostgreSQL: a row goes once Kafka, by its
topic's own settings, can no longer deliver the event again, and not before; a topic Kafka
keeps for ever, or cannot describe, keeps its rows (inbox_retention.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client import REGISTRY

from hospital_shared import inbox_retention
from hospital_shared.topics import REGISTRATIONS
from tests.integration.schemas import schema_pool
from tests.integration.services import running
from tests.kafka_tools import eventually

HOUR_MS = 3_600_000
HOURLY = {"retention.ms": str(HOUR_MS), "segment.ms": str(HOUR_MS // 6)}
# topic suffix -> its settings in Kafka (None: not created)
TOPICS: dict[str, dict[str, str] | None] = {
    "hourly": {**HOURLY, "message.timestamp.type": "LogAppendTime"},  # kept 70 minutes
    # producers' timestamps up to 10 minutes ahead: kept 80 minutes
    "ahead": {**HOURLY, "message.timestamp.type": "CreateTime",
              "message.timestamp.after.max.ms": str(HOUR_MS // 6)},
    "forever": {"retention.ms": "-1"},
    "compacted": {"cleanup.policy": "compact"},
    "unknown": None,
}  # fmt: skip
AGES_MIN = (120, 120, 120, 120, 120, 120, 120, 75, 65, 30)


@pytest.fixture
async def pool(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    async with schema_pool(stack_env["DATABASE_URL"], "inboxret", "metrics") as pool:
        yield pool


async def create_topics(bootstrap: str, tag: str) -> dict[str, str]:
    """The test's topics by suffix, those with settings created in Kafka with them."""
    names = {suffix: f"inbox.retention.{tag}.{suffix}" for suffix in TOPICS}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(names[suffix], 1, 1, topic_configs=configs)
                for suffix, configs in TOPICS.items()
                if configs is not None
            ]
        )
    finally:
        await admin.close()
    return names


async def seed(pool: asyncpg.Pool, topics: list[str], ages_min: tuple[int, ...]) -> None:
    await pool.executemany(
        "INSERT INTO inbox (handler, event_id, topic, processed_at)"
        " VALUES ('h', $1, $2, now() - make_interval(mins => $3))",
        [(str(uuid.uuid4()), topic, age) for topic in topics for age in ages_min],
    )


async def ages_left(pool: asyncpg.Pool, topic: str) -> list[int]:
    rows = await pool.fetch(
        "SELECT round(extract(epoch FROM now() - processed_at) / 60)::int AS age"
        " FROM inbox WHERE topic = $1 ORDER BY age DESC",
        topic,
    )
    return [r["age"] for r in rows]


async def test_rows_go_once_kafka_cannot_deliver_their_events_again(
    stack_env: dict[str, str], pool: asyncpg.Pool
) -> None:
    tag = uuid.uuid4().hex[:8]
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    names = await create_topics(bootstrap, tag)
    await seed(pool, list(names.values()), AGES_MIN)

    created = {names[suffix] for suffix, configs in TOPICS.items() if configs is not None}

    async def described() -> dict[str, inbox_retention.TopicRetention] | None:
        found = await inbox_retention.describe_topics(bootstrap, names.values(), {})
        return found if set(found) == created else None  # new topics take a moment

    retention = await eventually(described, timeout=30)
    assert retention[names["hourly"]].inbox_keep(timedelta(0)) == timedelta(minutes=70)
    assert retention[names["ahead"]].inbox_keep(timedelta(0)) == timedelta(minutes=80)
    assert retention[names["forever"]].inbox_keep(timedelta(0)) is None
    assert retention[names["compacted"]].inbox_keep(timedelta(0)) is None

    service = f"test-{tag}"
    purger = inbox_retention.Purger(service=service, extra=timedelta(0), batch_size=3)
    deleted = await purger.purge(pool, retention, names.values())
    assert deleted == {names["hourly"]: 8, names["ahead"]: 7}  # in batches of 3
    assert await ages_left(pool, names["hourly"]) == [65, 30]
    assert await ages_left(pool, names["ahead"]) == [75, 65, 30]
    for suffix in ("forever", "compacted", "unknown"):
        assert await ages_left(pool, names[suffix]) == list(AGES_MIN), suffix
    purged = REGISTRY.get_sample_value(
        "hospital_inbox_purged_total", {"service": service, "topic": names["hourly"]}
    )
    assert purged == 8

    # the next pass goes on from where this one ended (the 75 minutes old), and takes what
    # has aged past the 70 since (what is older than that the first pass took)
    await seed(pool, [names["hourly"]], (72,))
    assert await purger.purge(pool, retention, names.values()) == {names["hourly"]: 1}

    # the margin beyond Kafka's redelivery, and the least time, keep what is within them
    await seed(pool, [names["hourly"]], (120, 100))
    margin = inbox_retention.Purger(service=service, extra=timedelta(minutes=40))
    assert await margin.purge(pool, retention, [names["hourly"]]) == {names["hourly"]: 1}
    assert await ages_left(pool, names["hourly"]) == [100, 65, 30]
    await seed(pool, [names["ahead"]], (100,))
    least = inbox_retention.Purger(
        service=service, extra=timedelta(0), least=timedelta(minutes=110)
    )
    assert await least.purge(pool, retention, [names["ahead"]]) == {}
    assert await ages_left(pool, names["ahead"]) == [100, 75, 65, 30]


async def test_one_instance_purges_at_a_time(stack_env: dict[str, str], pool: asyncpg.Pool) -> None:
    """While another instance of the service holds the purge's lock, a pass deletes nothing;
    a pass that fails half-way leaves the lock to nobody."""
    tag = uuid.uuid4().hex[:8]
    topic = f"inbox.retention.{tag}.locked"
    retention = {topic: inbox_retention.TopicRetention("delete", HOUR_MS, 0)}
    purger = inbox_retention.Purger(service="test", extra=timedelta(0))
    await seed(pool, [topic], (120, 30))
    lock = f"pg_try_advisory_lock({inbox_retention.PURGE_LOCK})"
    async with pool.acquire() as other:
        assert await other.fetchval(f"SELECT {lock}")
        try:
            held = await purger.purge(pool, retention, [topic])
        finally:
            await other.execute(f"SELECT pg_advisory_unlock({inbox_retention.PURGE_LOCK})")
    assert held == {}
    assert await ages_left(pool, topic) == [120, 30]

    failing = inbox_retention.Purger(service="test", extra=timedelta(0), batch_size=-1)
    with pytest.raises(asyncpg.PostgresError, match="LIMIT must not be negative"):
        await failing.purge(pool, retention, [topic])
    schema = await pool.fetchval("SELECT current_schema()")
    fresh = await asyncpg.connect(
        stack_env["DATABASE_URL"], server_settings={"search_path": schema}
    )
    try:  # not held by a connection left in the pool
        assert await fresh.fetchval(f"SELECT {lock}")
        await fresh.execute(f"SELECT pg_advisory_unlock({inbox_retention.PURGE_LOCK})")
    finally:
        await fresh.close()
    assert await purger.purge(pool, retention, [topic]) == {topic: 1}


async def test_the_service_deletes_what_kafka_can_no_longer_deliver_again(  # type: ignore[no-untyped-def]
    stack_config, stack_env
) -> None:
    """The metrics service's own job, on its own inbox: the registrations topic keeps records
    7 days in segments of up to 7 days, with producers' timestamps up to an hour ahead
    (Kafka's defaults), so with the default day's margin a row is kept 15 days and an hour
    (the least time, 30 days by default, set to 0 here)."""
    env = {"METRICS_INBOX_PURGE_INTERVAL_S": "0.5", "METRICS_INBOX_KEEP_MIN_DAYS": "0"}
    with running(stack_config, "metrics", env) as service:
        conn = await asyncpg.connect(stack_env["DATABASE_URL"])
        try:
            ids = {age: f"inbox-retention-{uuid.uuid4()}" for age in (16, 14)}
            for age, event_id in ids.items():
                await conn.execute(
                    "INSERT INTO metrics.inbox (handler, event_id, topic, processed_at)"
                    " VALUES ('registrations', $1, $2, now() - make_interval(days => $3))",
                    event_id,
                    REGISTRATIONS,
                    age,
                )

            async def only_the_newer_left() -> bool:
                rows = await conn.fetch(
                    "SELECT event_id FROM metrics.inbox WHERE event_id = ANY($1::text[])",
                    list(ids.values()),
                )
                return {r["event_id"] for r in rows} == {ids[14]}

            assert await eventually(only_the_newer_left, timeout=30)
        finally:
            await conn.close()
        async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
            text = (await client.get("/metrics")).text
        series = f'hospital_inbox_purged_total{{service="metrics",topic="{REGISTRATIONS}"}}'
        assert any(line.startswith(series) for line in text.splitlines()), text[-2000:]
