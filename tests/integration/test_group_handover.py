"""Metrics' one consumer group takes over from the nine groups of the release before it (one
a topic), on the real Kafka and PostgreSQL: it starts where they had committed (what they
handled is not read again), an event they handled but had not committed yet is skipped by
its inbox row under the old handler's name, the old groups are left as they were (a rollback
finds them), and their lag is no longer reported."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import ConsumerRecord

from hospital_shared import db, topics
from hospital_shared.codec import encode
from hospital_shared.events import CloudEvent, RegistrationNoShow, make_event
from metrics.app import CONSUMED, MIGRATIONS
from tests.factories import NOW
from tests.integration.batch_consumers import batch_consumer
from tests.integration.schemas import schema_pool
from tests.integration.services import running
from tests.integration.test_metrics_service import discharge_event
from tests.kafka_tools import commit, committed, end_offsets, eventually, publish
from tests.metrics.prom_text import parse_metrics, sample


async def test_the_one_group_starts_where_the_per_topic_groups_stopped(  # type: ignore[no-untyped-def]
    stack_config, stack_env
) -> None:
    bootstrap, dsn = stack_env["KAFKA_BOOTSTRAP_SERVERS"], stack_env["DATABASE_URL"]
    prefix = f"metrics-handover-{uuid.uuid4().hex[:8]}"
    department = f"H{uuid.uuid4().hex[:6]}"
    # The release before had handled a first discharge, and committed past it, in each of its
    # groups (one a topic, every topic at its end).
    handled = discharge_event(department, 0)
    await publish(bootstrap, topics.DISCHARGES, [(handled[1], handled[2])])
    old = {f"{prefix}.{name}": topic for name, topic in CONSUMED.items()}
    ends = await end_offsets(bootstrap, list(CONSUMED.values()))
    for group, topic in old.items():
        await commit(bootstrap, group, {tp: n for tp, n in ends.items() if tp.topic == topic})
    before = {group: await committed(bootstrap, group) for group in old}
    # Another service's groups: one its release retired (named in the setting), one it runs.
    other_retired, other_live = f"{prefix}-fu.discharges", f"{prefix}-fu.events"
    for group in (other_retired, other_live):
        await commit(
            bootstrap, group, {tp: n for tp, n in ends.items() if tp.topic == topics.DISCHARGES}
        )
    # Then it handled a second one but stopped before committing its offset: its inbox row
    # is there, under the name of the discharges' handler.
    unacknowledged = discharge_event(department, 1)
    conn = await asyncpg.connect(dsn)
    try:
        await db.migrate(
            conn, schema="metrics", folders={"shared": db.SHARED_MIGRATIONS, "metrics": MIGRATIONS}
        )
        await conn.execute(
            "INSERT INTO metrics.inbox (handler, event_id, topic) VALUES ('discharges', $1, $2)",
            unacknowledged[0],
            topics.DISCHARGES,
        )
    finally:
        await conn.close()
    new = [discharge_event(department, n) for n in (2, 3)]
    await publish(bootstrap, topics.DISCHARGES, [(k, v) for _, k, v in (unacknowledged, *new)])

    env = {"METRICS_CONSUMER_GROUP": prefix, "METRICS_GROUP_LAG_INTERVAL_S": "1",
           "METRICS_STORE_REFRESH_INTERVAL_S": "0.3",
           "METRICS_RETIRED_CONSUMER_GROUPS": json.dumps([other_retired])}  # fmt: skip
    labels = {"department": department, "disposition": "home"}

    def scrape() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        return parse_metrics(httpx.get(f"{url}/metrics", timeout=5).text)

    with running(stack_config, "metrics", env) as metrics:
        url = metrics.url
        await eventually(lambda: sample(scrape(), "hospital_discharges_total", labels) == 2)
        # Only the two new discharges: neither the one committed past nor the one in the inbox.
        mine = await committed(bootstrap, f"{prefix}.events")
        # An offset on every partition, also those it read nothing from: taken over, not read.
        assert set(mine) >= set(ends), set(ends) - set(mine)
        assert all(mine[tp] >= n for tp, n in ends.items())
        groups = await eventually_lag_groups(scrape, prefix)
        assert f"{prefix}.events" in groups
        assert not groups & set(old), groups  # the retired groups' lag is not reported
        assert other_live in groups and other_retired not in groups, groups  # nor the others'
        assert sample(scrape(), "hospital_discharges_total", labels) == 2
    # The old groups' offsets are as they were: a rollback starts from them.
    assert {group: await committed(bootstrap, group) for group in old} == before
    # Rolled back, the release before handled one more discharge (counted in its store, not
    # here) and committed past it; upgraded again, the group starts where that release got to.
    in_rollback = discharge_event(department, 4)
    await publish(bootstrap, topics.DISCHARGES, [(in_rollback[1], in_rollback[2])])
    ends = await end_offsets(bootstrap, [topics.DISCHARGES])
    await commit(bootstrap, f"{prefix}.discharges", ends)
    after = discharge_event(department, 5)
    await publish(bootstrap, topics.DISCHARGES, [(after[1], after[2])])
    last = await end_offsets(bootstrap, [topics.DISCHARGES])
    with running(stack_config, "metrics", env):
        await eventually(lambda: sample(scrape(), "hospital_discharges_total", labels) == 3)
        mine = await committed(bootstrap, f"{prefix}.events")
        assert all(mine.get(tp, 0) >= n for tp, n in ends.items()), (mine, ends)

        async def read_to_the_end() -> bool:
            mine = await committed(bootstrap, f"{prefix}.events")
            return all(mine.get(tp, 0) >= n for tp, n in last.items())

        await eventually(read_to_the_end)
        # Only the discharge after the rollback: the one the release before handled is not
        # read again.
        assert sample(scrape(), "hospital_discharges_total", labels) == 3


async def eventually_lag_groups(scrape: Any, prefix: str) -> set[str]:
    """The groups of `prefix` in `hospital_consumer_group_lag`, once the new one is there."""
    found: set[str] = set()

    def seen() -> bool:
        found.clear()
        for name, labels in scrape():
            group = dict(labels).get("group", "")
            if name == "hospital_consumer_group_lag" and group.startswith(prefix):
                found.add(group)
        return f"{prefix}.events" in found

    await eventually(seen, timeout=30)
    return set(found)


# --- the inbox names, on the real PostgreSQL ---------------------------------------------


@pytest.fixture
async def pool(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    async with schema_pool(stack_env["DATABASE_URL"], "handover", "metrics", max_size=2) as p:
        yield p


def record(topic: str, n: int, event_id: str | None = None) -> tuple[str, ConsumerRecord[Any, Any]]:
    """An event of `topic` (a no-show or a discharge) as the consumer receives it."""
    if topic == topics.DISCHARGES:
        event_id, _, value = discharge_event("HX", n)
    else:
        event = make_event(
            "registration.no_show",
            RegistrationNoShow(registration_id=f"R{n}"),
            source="urn:test",
            subject=f"P{n}",
            time=NOW,
            event_id=event_id,
        )
        event_id, value = event.id, encode(event)
    return event_id, ConsumerRecord(topic, 0, n, 0, 0, None, value, None, 0, len(value), [])


async def test_a_consumer_that_replaced_others_keeps_their_inbox_names(pool: asyncpg.Pool) -> None:
    handled: list[str] = []

    async def handle_batch(conn: asyncpg.Connection, events: Sequence[CloudEvent[Any]]) -> None:
        handled.extend(e.id for e in events)

    consumer = batch_consumer(
        pool,
        handle_batch,
        name="events",
        inbox_names={topics.REGISTRATIONS: "registrations", topics.DISCHARGES: "discharges"},
    )
    (seen_id, seen), (new_id, new), (other_id, other) = (
        record(topics.REGISTRATIONS, 0),  # handled by the old `registrations` consumer
        record(topics.REGISTRATIONS, 1),
        record(topics.DISCHARGES, 2),
    )
    # Another system's event with the discharge's id, on another topic: an event of its own,
    # as it was when each topic had its consumer.
    _, twin = record(topics.REGISTRATIONS, 3, event_id=other_id)
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO inbox (handler, event_id, topic) VALUES ('registrations', $1, $2)",
            seen_id,
            topics.REGISTRATIONS,
        )
    await consumer.process_batch([seen, new, other, twin])
    assert handled == [new_id, other_id, other_id]
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT handler, event_id FROM inbox")
    assert sorted((r["handler"], r["event_id"]) for r in rows) == sorted(
        [
            ("registrations", seen_id),
            ("registrations", new_id),
            ("discharges", other_id),
            ("registrations", other_id),
        ]
    )
    # Delivered again, nothing is handled twice.
    await consumer.process_batch([seen, new, other, twin])
    assert handled == [new_id, other_id, other_id]
