"""The reliable-messaging guarantees of shared/, proven on the follow-up service against the
real Kafka and PostgreSQL: no event skipped or lost, none handled twice, invalid ones
dead-lettered with their reason, and recovery from a database restart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import devstack
from hospital_shared import topics
from tests.factories import discharge, to_bytes
from tests.integration.services import RunningService
from tests.kafka_tools import (
    eventually,
    json_values,
    publish,
    publish_one_per_partition,
    read_all,
)


@pytest.fixture(scope="module")
def followup(stack_config, stack_env) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    service = RunningService(stack_config, "followup")
    yield service
    service.stop()


def unique_discharges(count: int) -> list[dict[str, Any]]:
    base = uuid.uuid4().int % 10**9
    return [discharge(base + i) for i in range(count)]


async def tasks_for(dsn: str, admission_ids: list[str]) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(
            "SELECT task_id, source_event_id FROM followup.follow_up_tasks WHERE task_id = ANY($1)",
            [f"FU-{a}" for a in admission_ids],
        )
    finally:
        await conn.close()


async def planned_events_for(bootstrap: str, admission_ids: list[str]) -> list[dict[str, Any]]:
    wanted = {f"FU-{a}" for a in admission_ids}
    events = json_values(await read_all(bootstrap, topics.FOLLOWUP_TASKS))
    return [
        e
        for e in events
        if e.get("type") == "followup.task_planned" and e.get("data", {}).get("task_id") in wanted
    ]


def admission_ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["data"]["admission_id"] for e in events]


async def test_events_waiting_before_first_start_are_not_skipped(followup, stack_env) -> None:  # type: ignore[no-untyped-def]
    events = unique_discharges(30)
    await publish(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        topics.DISCHARGES,
        [(e["subject"], to_bytes(e)) for e in events],
    )
    followup.start()
    await asyncio.to_thread(followup.wait_ready)
    rows = await eventually(
        lambda: _all_there(stack_env["DATABASE_URL"], admission_ids(events)), timeout=60
    )
    assert len(rows) == 30


async def _all_there(dsn: str, ids: list[str]) -> list[asyncpg.Record] | None:
    rows = await tasks_for(dsn, ids)
    return rows if len(rows) == len(ids) else None


async def _published_n(bootstrap: str, ids: list[str], n: int) -> list[dict[str, Any]] | None:
    found = await planned_events_for(bootstrap, ids)
    return found if len(found) >= n else None


async def consumed_up_to_here(bootstrap: str) -> None:
    """Proof that the service has consumed every discharge sent before, and published what they
    caused: a marker discharge on every partition, sent now, has its `task_planned` out. The
    relay publishes in commit order, so a duplicate of an earlier event would be out first."""
    markers = unique_discharges(topics.INPUT_PARTITIONS)
    records = [(e["subject"], to_bytes(e)) for e in markers]
    await publish_one_per_partition(bootstrap, topics.DISCHARGES, records)
    ids = admission_ids(markers)
    await eventually(lambda: _published_n(bootstrap, ids, len(ids)), timeout=60)


async def processed_counts(service: RunningService) -> dict[str, float]:
    """hospital_events_processed_total of the discharges topic, by result, from /metrics."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{service.url}/metrics")).text
    return {
        sample.labels["result"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "hospital_events_processed_total"
        and sample.labels.get("topic") == topics.DISCHARGES
    }


async def test_redelivered_event_has_its_effect_once(followup, stack_env) -> None:  # type: ignore[no-untyped-def]
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    before = await processed_counts(followup)
    [event] = unique_discharges(1)
    # The same event delivered three times (a producer retry, a replay by the HIS).
    await publish(bootstrap, topics.DISCHARGES, [(event["subject"], to_bytes(event))] * 3)
    ids = admission_ids([event])
    await eventually(lambda: _published_n(bootstrap, ids, 1), timeout=30)
    await consumed_up_to_here(bootstrap)  # a duplicate would be out by now
    assert len(await tasks_for(stack_env["DATABASE_URL"], ids)) == 1
    assert len(await planned_events_for(bootstrap, ids)) == 1
    # Operators see it the same way: one event handled, two recognised as repeats.
    after = await processed_counts(followup)
    assert after["ok"] - before.get("ok", 0) == 1 + topics.INPUT_PARTITIONS  # and the markers
    assert after["duplicate"] - before.get("duplicate", 0) == 2


async def test_kill_after_db_commit_before_offset_commit_redelivers_without_duplicates(
    followup, stack_env
) -> None:  # type: ignore[no-untyped-def]
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    followup.stop()
    followup.start(HOSPITAL_FAILPOINTS="consumer.before_offset_commit=kill")
    events = unique_discharges(5)
    await publish(bootstrap, topics.DISCHARGES, [(e["subject"], to_bytes(e)) for e in events])
    assert await asyncio.to_thread(followup.wait_exit, 60) == -9
    followup.start()  # without the failpoint: the batch is redelivered
    await asyncio.to_thread(followup.wait_ready)
    ids = admission_ids(events)
    await eventually(lambda: _published_n(bootstrap, ids, 5), timeout=60)
    await consumed_up_to_here(bootstrap)
    assert len(await tasks_for(stack_env["DATABASE_URL"], ids)) == 5
    # the killed batch came again and its inbox rows said it was handled
    assert (await processed_counts(followup)).get("duplicate", 0) >= 1
    # one event per task: the relay may have published and been killed before marking it
    # published, and sends a repeat with the same id then (outbox.py), which consumers skip
    assert len({e["id"] for e in await planned_events_for(bootstrap, ids)}) == 5


async def _outbox_drained(dsn: str) -> bool:
    conn = await asyncpg.connect(dsn)
    try:
        return bool(
            await conn.fetchval("SELECT count(*) FROM followup.outbox WHERE published_at IS NULL")
            == 0
        )
    finally:
        await conn.close()


async def test_kill_between_db_commit_and_publish_publishes_exactly_once(
    followup, stack_env, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    # The failpoint is switched on once what the start queued (the development roster it
    # seeds) is published: on at start, it killed the service on those, before this event.
    failpoints = tmp_path / "failpoints"
    failpoints.write_text("")
    followup.stop()
    followup.start(HOSPITAL_FAILPOINTS_FILE=str(failpoints))
    await asyncio.to_thread(followup.wait_ready)
    await consumed_up_to_here(bootstrap)  # nothing of earlier tests left to handle
    await eventually(lambda: _outbox_drained(stack_env["DATABASE_URL"]), timeout=30)
    failpoints.write_text("outbox.before_publish=kill\n")
    [event] = unique_discharges(1)
    await publish(bootstrap, topics.DISCHARGES, [(event["subject"], to_bytes(event))])
    assert await asyncio.to_thread(followup.wait_exit, 60) == -9
    ids = admission_ids([event])
    assert len(await tasks_for(stack_env["DATABASE_URL"], ids)) == 1  # the state committed
    assert await planned_events_for(bootstrap, ids) == []  # but nothing was published yet
    followup.start()
    await asyncio.to_thread(followup.wait_ready)
    await eventually(lambda: _published_n(bootstrap, ids, 1), timeout=30)
    await consumed_up_to_here(bootstrap)
    assert len(await planned_events_for(bootstrap, ids)) == 1


async def test_invalid_messages_are_dead_lettered_and_the_rest_processed(
    followup, stack_env
) -> None:  # type: ignore[no-untyped-def]
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    good = unique_discharges(3)
    marker = uuid.uuid4().hex
    unknown = {**discharge(1), "type": "patient.teleported", "id": f"unknown-{marker}"}
    invalid = discharge(2)
    invalid["id"] = f"invalid-{marker}"
    del invalid["data"]["discharged_at"]
    malformed = f'{{"id": "malformed-{marker}", oops'.encode()
    await publish(
        bootstrap,
        topics.DISCHARGES,
        [
            ("P1", to_bytes(good[0])),
            ("P1", malformed),
            ("P1", to_bytes(good[1])),
            ("P1", to_bytes(invalid)),
            ("P1", to_bytes(unknown)),
            ("P1", to_bytes(good[2])),
        ],
    )
    ids = admission_ids(good)
    await eventually(lambda: _all_there(stack_env["DATABASE_URL"], ids), timeout=60)

    async def dead_letters() -> dict[str, dict[str, str]] | None:
        found = {}
        for r in await read_all(bootstrap, topics.dead_letter_topic(topics.DISCHARGES)):
            headers = {k: v.decode() for k, v in r.headers}
            if marker.encode() in (r.value or b"") and headers.get("dlq-service") == "followup":
                found[r.value.decode(errors="replace")] = headers
        return found if len(found) == 3 else None

    found = await eventually(dead_letters, timeout=30)
    by_kind = {h["dlq-error-kind"]: (body, h) for body, h in found.items()}
    assert set(by_kind) == {"malformed_json", "schema_violation", "unknown_type"}
    assert by_kind["malformed_json"][0] == malformed.decode()  # the original bytes
    assert "data.discharged_at" in by_kind["schema_violation"][1]["dlq-reason"]
    assert "patient.teleported" in by_kind["unknown_type"][1]["dlq-reason"]
    assert all(h["dlq-attempts"] == "1" for h in found.values())
    assert all(h["dlq-original-topic"] == topics.DISCHARGES for h in found.values())


async def test_postgres_restart_mid_stream_loses_nothing(followup, stack_config, stack_env) -> None:  # type: ignore[no-untyped-def]
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    if followup.process is None or followup.process.poll() is not None:
        followup.start()
    await asyncio.to_thread(followup.wait_ready)
    events = unique_discharges(300)
    first, second = events[:150], events[150:]
    await publish(bootstrap, topics.DISCHARGES, [(e["subject"], to_bytes(e)) for e in first])
    restart = asyncio.create_task(asyncio.to_thread(devstack.restart_postgres, stack_config))
    for chunk in range(0, 150, 10):
        part = second[chunk : chunk + 10]
        await publish(bootstrap, topics.DISCHARGES, [(e["subject"], to_bytes(e)) for e in part])
        await asyncio.sleep(0.05)
    await restart
    ids = admission_ids(events)
    rows = await eventually(lambda: _all_there(stack_env["DATABASE_URL"], ids), timeout=120)
    assert len(rows) == 300
    await eventually(lambda: _published_n(bootstrap, ids, 300), timeout=60)
    await consumed_up_to_here(bootstrap)
    # Each task was planned once: one event id per task. A restart between the relay's publish
    # and its mark sends that batch again (outbox.py: the same events, same ids, which
    # consumers drop by id), so records may repeat; events may not.
    planned = await planned_events_for(bootstrap, ids)
    by_task = {e["data"]["task_id"]: set() for e in planned}
    for e in planned:
        by_task[e["data"]["task_id"]].add(e["id"])
    assert len(by_task) == 300 and all(len(event_ids) == 1 for event_ids in by_task.values())
    await asyncio.to_thread(followup.wait_ready, 60)  # it recovered by itself
