"""Follow-up's one consumer group takes over from the two groups of the release before it (the
discharges' and the registrations'), on the real Kafka and PostgreSQL: it starts where they
had committed (a discharge they handled is not planned again), a discharge they handled but
had not committed yet is skipped by its inbox row under the old handler's name, a new one is
planned, and the old groups are left as they were (a rollback finds them)."""

from __future__ import annotations

import uuid

import asyncpg

from followup.app import CONSUMED, HANDLER, MIGRATIONS
from hospital_shared import db, topics
from tests.factories import discharge, to_bytes
from tests.integration.services import running
from tests.kafka_tools import commit, committed, end_offsets, eventually, publish


async def test_the_one_group_starts_where_the_two_groups_stopped(  # type: ignore[no-untyped-def]
    stack_config, stack_env
) -> None:
    bootstrap, dsn = stack_env["KAFKA_BOOTSTRAP_SERVERS"], stack_env["DATABASE_URL"]
    prefix = f"followup-handover-{uuid.uuid4().hex[:8]}"
    base = uuid.uuid4().int % 10**8
    handled, unacknowledged, new = (discharge(base + i) for i in range(3))
    # The release before had handled a first discharge, and committed past it, in each of its
    # groups (both topics at their end).
    await publish(bootstrap, topics.DISCHARGES, [(handled["subject"], to_bytes(handled))])
    old = {f"{prefix}.{name}": topic for name, topic in CONSUMED.items()}
    ends = await end_offsets(bootstrap, list(CONSUMED.values()))
    for group, topic in old.items():
        await commit(bootstrap, group, {tp: n for tp, n in ends.items() if tp.topic == topic})
    before = {group: await committed(bootstrap, group) for group in old}
    # Then it handled a second one but stopped before committing its offset: its inbox row
    # is there, under the name of the discharges' handler.
    conn = await asyncpg.connect(dsn)
    try:
        await db.migrate(
            conn,
            schema="followup",
            folders={"shared": db.SHARED_MIGRATIONS, "followup": MIGRATIONS},
        )
        await conn.execute(
            "INSERT INTO followup.inbox (handler, event_id, topic) VALUES ('discharges', $1, $2)",
            unacknowledged["id"],
            topics.DISCHARGES,
        )
        await publish(
            bootstrap,
            topics.DISCHARGES,
            [(e["subject"], to_bytes(e)) for e in (unacknowledged, new)],
        )
        last = await end_offsets(bootstrap, list(CONSUMED.values()))

        async def tasks() -> set[str]:
            rows = await conn.fetch(
                "SELECT task_id FROM followup.follow_up_tasks WHERE task_id = ANY($1::text[])",
                [f"FU-{e['data']['admission_id']}" for e in (handled, unacknowledged, new)],
            )
            return {r["task_id"] for r in rows}

        async def read_to_the_end() -> bool:
            mine = await committed(bootstrap, f"{prefix}.{HANDLER}")
            return all(mine.get(tp, 0) >= n for tp, n in last.items())

        with running(stack_config, "followup", {"FOLLOWUP_CONSUMER_GROUP": prefix}):
            await eventually(read_to_the_end, timeout=60)
            # An offset on every partition of both topics, also those it read nothing from:
            # taken over, not read from the start.
            mine = await committed(bootstrap, f"{prefix}.{HANDLER}")
            assert set(mine) >= set(ends), set(ends) - set(mine)
            # Only the new discharge is planned: the one committed past is not read, the one
            # in the inbox under the old name is skipped.
            assert await tasks() == {f"FU-{new['data']['admission_id']}"}
    finally:
        await conn.close()
    # The old groups' offsets are as they were: a rollback starts from them.
    assert {group: await committed(bootstrap, group) for group in old} == before
