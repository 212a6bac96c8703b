"""The shared consumer against records and faults that stopped it for good, on the real Kafka,
PostgreSQL and Kannel: a record just under the broker's size limit (its dead-letter copy is
over it) is dead-lettered as a reference and the complaints and patient SMS after it still
flow; a consumer that cannot get through its batch turns /readyz red, names itself and its
reason, shows `hospital_consumer_stalled`, and turns green again once it gets through."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from prometheus_client.parser import text_string_to_metric_families

from hospital_shared import topics
from tests import factories
from tests.factories import BROKER_MESSAGE_MAX_BYTES, OVERSIZED, oversized_complaint
from tests.integration.services import RunningService, running_all
from tests.integration.test_notifications_sms import BASE_ENV, discharge_event, sms_received
from tests.kafka_tools import eventually, publish, read_all


@pytest.fixture(scope="module")
def failpoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("failpoints") / "failpoints"
    path.write_text("")
    return path


@pytest.fixture(scope="module")
def started(stack_config, stack_env, failpoints) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    env = {
        "complaints": {
            "HOSPITAL_FAILPOINTS_FILE": str(failpoints), "COMPLAINTS_CONSUMER_STALL_AFTER_S": "3"
        },
        "notifications": dict(BASE_ENV),
    }  # fmt: skip
    with running_all(stack_config, ["complaints", "notifications"], env) as s:
        yield s  # together: one after the other took 3 s more


@pytest.fixture(scope="module")
def complaints(started: dict[str, RunningService]) -> RunningService:
    return started["complaints"]


@pytest.fixture(scope="module")
def notifications(started: dict[str, RunningService]) -> RunningService:
    return started["notifications"]


async def case_exists(dsn: str, external_id: str) -> bool:
    conn = await asyncpg.connect(dsn)
    try:
        n = await conn.fetchval(
            "SELECT count(*) FROM complaints.cases WHERE external_id = $1", external_id
        )
    finally:
        await conn.close()
    return bool(n)


async def references(bootstrap: str, marker: str) -> dict[str, Any]:
    """The dead letters of the oversized record, by the service that wrote them."""
    found = {}
    for r in await read_all(bootstrap, topics.dead_letter_topic(topics.COMPLAINTS_IN)):
        if marker.encode() in (r.value or b"")[:200]:
            found[dict(r.headers)["dlq-service"].decode()] = r
    return found


async def test_a_record_too_big_to_dead_letter_whole_does_not_stop_complaints_or_sms(
    complaints, notifications, stack_env, stack_config
) -> None:  # type: ignore[no-untyped-def]
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    marker = f"HIS-BIG-{uuid.uuid4().hex[:8]}"
    big = oversized_complaint(marker)
    after = factories.complaint(f"{marker}-after")
    # The same key: the complaint after it is on the oversized record's partition.
    await publish(
        bootstrap,
        topics.COMPLAINTS_IN,
        [(marker, big), (marker, factories.to_bytes(after))],
        max_request_size=2 * BROKER_MESSAGE_MAX_BYTES,
    )
    n = uuid.uuid4().int % 10**8
    dept = f"测试{n}科"
    discharge = discharge_event(n, dept)
    await publish(
        bootstrap, topics.DISCHARGES, [(discharge["subject"], factories.to_bytes(discharge))]
    )

    # complaints handles the complaint after it; notifications sends the discharge's SMS
    assert await eventually(lambda: case_exists(stack_env["DATABASE_URL"], f"{marker}-after"))
    assert await eventually(lambda: sms_received(stack_config, dept), timeout=60)

    found = await eventually(lambda: _both(references(bootstrap, marker)), timeout=30)
    for record in found.values():
        headers = {k: v.decode() for k, v in record.headers}
        assert headers["dlq-reference"] == "true"
        assert headers["dlq-original-topic"] == topics.COMPLAINTS_IN
        assert headers["dlq-original-size"] == str(OVERSIZED)
        assert int(headers["dlq-original-offset"]) >= 0
        assert int(headers["dlq-original-partition"]) == record_partition_of(found)
        assert headers["dlq-error-kind"] == "schema_violation"
        assert "data.description" in headers["dlq-reason"]
        assert "MessageSizeTooLargeError" in headers["dlq-publish-error"]
        assert record.value == big[:4096] and record.key == marker.encode()


async def _both(found: Any) -> dict[str, Any] | None:
    got = await found
    return got if {"complaints", "notifications"} <= set(got) else None


def record_partition_of(found: dict[str, Any]) -> int:
    """Both services dead-lettered the same record: the same original partition."""
    [partition] = {dict(r.headers)["dlq-original-partition"].decode() for r in found.values()}
    return int(partition)


@contextlib.asynccontextmanager
async def topic_limit(bootstrap: str, topic: str, max_bytes: int) -> AsyncIterator[None]:
    """`topic`'s max.message.bytes set to `max_bytes` for the block, then back to the default.
    AlterConfigs replaces every config set on the topic: the topic's own (a dead-letter
    topic's retention, min.insync.replicas) are read first and kept, before and after."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)]
        )
        (resource,) = described.resources
        own = {c[0]: c[1] for c in resource[4] if c[3] == 1}  # DYNAMIC_TOPIC_CONFIG
        limit = {**own, "max.message.bytes": str(max_bytes)}
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, limit)])
        try:
            yield
        finally:
            await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, own)])
    finally:
        await admin.close()


async def test_a_dead_letter_the_broker_refuses_does_not_jam_later_dead_letters(
    complaints, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """A .dlq topic with a lower limit than its input topic: the broker itself refuses the
    dead letter (not the client, as above). Sent by the idempotent outbox producer, that
    refusal left a gap in the partition's sequence numbers and every later dead letter there,
    the reference first, failed with OutOfOrderSequenceNumber for good."""
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    marker = f"HIS-DLQ-LIMIT-{uuid.uuid4().hex[:8]}"
    dlq = topics.dead_letter_topic(topics.COMPLAINTS_IN)

    async def dead_letters_of(suffix: str) -> list[Any]:
        return [
            r
            for r in await read_all(bootstrap, dlq)
            if f"{marker}{suffix}".encode() in (r.value or b"")[:300]
            and dict(r.headers).get("dlq-service") == b"complaints"
        ]

    async with topic_limit(bootstrap, dlq, 64 * 1024):
        # A first dead letter on the partition, so the producer has a sequence there.
        await publish(bootstrap, topics.COMPLAINTS_IN, [(marker, f'{{"{marker}-a'.encode())])
        await eventually(lambda: dead_letters_of("-a"), timeout=30)
        big = oversized_complaint(f"{marker}-b", 100_000)  # the client takes it, the topic not
        after = factories.to_bytes(factories.complaint(f"{marker}-c"))
        await publish(bootstrap, topics.COMPLAINTS_IN, [(marker, big), (marker, after)])
        assert await eventually(lambda: case_exists(stack_env["DATABASE_URL"], f"{marker}-c"))
        [ref] = await eventually(lambda: dead_letters_of("-b"), timeout=30)
    headers = {k: v.decode() for k, v in ref.headers}
    assert headers["dlq-reference"] == "true" and headers["dlq-original-size"] == "100000"
    assert "MessageSizeTooLargeError" in headers["dlq-publish-error"]


async def readyz(service: RunningService) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.get(f"{service.url}/readyz")
    return resp.status_code, resp.json()


async def group_metric(service: RunningService, name: str, group: str) -> float | None:
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"{service.url}/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels["group"] == group:
                return sample.value
    return None


async def stalled_metric(service: RunningService, group: str) -> float | None:
    return await group_metric(service, "hospital_consumer_stalled", group)


async def test_a_consumer_stuck_on_its_batch_turns_readyz_red_with_its_reason_then_recovers(
    complaints, failpoints, stack_env
) -> None:  # type: ignore[no-untyped-def]
    status, _ = await readyz(complaints)
    assert status == 200
    failpoints.write_text("consumer.complaints.handle=transient\n")
    external_id = f"HIS-STALL-{uuid.uuid4().hex[:8]}"
    await publish_complaint(stack_env, external_id)

    async def red() -> dict[str, Any] | None:
        status, body = await readyz(complaints)
        return body if status == 503 else None

    body = await eventually(red, timeout=60)
    assert body["checks"]["consumers_progressing"] is False
    assert body["checks"]["database"] and body["checks"]["broker"]  # all else looks fine
    [stall] = body["stalled_consumers"]  # the roster consumer is not stalled
    assert stall["group"] == "complaints.complaints"
    assert stall["topics"] == [topics.COMPLAINTS_IN]
    assert stall["records_waiting"] >= 1 and stall["seconds_without_progress"] >= 3
    assert "ConnectionResetError" in stall["reason"] and "failpoint" in stall["reason"]
    assert await stalled_metric(complaints, "complaints.complaints") == 1
    assert await stalled_metric(complaints, "complaints.roster") == 0
    # Another complaint waits on the broker behind the stuck batch: the lag shows it.
    await publish_complaint(stack_env, f"{external_id}-2")

    async def lagging() -> bool:
        lag = await group_metric(complaints, "hospital_consumer_lag", "complaints.complaints")
        return lag is not None and lag >= 1

    assert await eventually(lagging, timeout=30)

    failpoints.write_text("")  # the fault is gone: the same process gets through by itself

    async def green() -> bool:
        return (await readyz(complaints))[0] == 200

    assert await eventually(green, timeout=60)
    assert await eventually(lambda: case_exists(stack_env["DATABASE_URL"], f"{external_id}-2"))
    assert await case_exists(stack_env["DATABASE_URL"], external_id)
    assert await stalled_metric(complaints, "complaints.complaints") == 0


async def publish_complaint(stack_env: dict[str, str], external_id: str) -> None:
    event = factories.complaint(external_id)
    await publish(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        topics.COMPLAINTS_IN,
        [(external_id, factories.to_bytes(event))],
    )
