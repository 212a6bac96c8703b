"""The consumer's handler-error path in every consuming service, on the real Kafka and
PostgreSQL: a handler that fails once is retried and has its effect once; one that keeps
failing is dead-lettered after the service's configured attempts with its reason, and the
event after it on the same partition is still processed.

The failures come from the `handler.fail_once` / `handler.fail_always` failpoints
(`hospital_shared.failpoints`), which make the real handler raise for the events whose id
carries a marker; nothing else of the service is changed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from hospital_shared import topics
from tests.factories import discharge, envelope, to_bytes
from tests.integration.services import running
from tests.kafka_tools import eventually, publish, read_all

ATTEMPTS = 3


def complaint(n: int, patient_id: str) -> dict[str, Any]:
    data = {
        "external_id": f"HIS-{n}",
        "channel": "online",
        "patient": {"patient_id": patient_id, "name": "张三", "phone": "13800138000"},
        "department": {"code": "CARD", "name": "心内科"},
        "description": "候诊时间太长",
        "submitted_at": datetime.now(UTC).isoformat(),
    }
    return envelope("complaint.submitted", data, subject=data["external_id"])


def admission(event: dict[str, Any]) -> str:
    return str(event["data"]["admission_id"])


@dataclass(frozen=True)
class Consumer:
    """A service, the input it consumes, and how to count one input event's effect."""

    service: str
    topic: str
    make: Callable[[int, str], dict[str, Any]]
    effect_sql: str  # one parameter: what `effect_key` gives; counts the event's effect
    effect_key: Callable[[dict[str, Any]], str]


def _discharge(n: int, patient_id: str) -> dict[str, Any]:
    return discharge(n, patient={"patient_id": patient_id, "name": "张三", "phone": "13800138000"})


CONSUMERS = [
    Consumer(
        "followup", topics.DISCHARGES, _discharge,
        "SELECT count(*) FROM followup.follow_up_tasks WHERE task_id = 'FU-' || $1", admission,
    ),
    Consumer(
        "complaints", topics.COMPLAINTS_IN, complaint,
        "SELECT count(*) FROM complaints.cases WHERE external_id = $1",
        lambda e: str(e["data"]["external_id"]),
    ),
    Consumer(
        "notifications", topics.DISCHARGES, _discharge,
        "SELECT count(*) FROM notifications.messages WHERE subject_ref = 'admission:' || $1"
        " AND template = 'discharge_care_notice'",
        admission,
    ),
    Consumer(
        "metrics", topics.DISCHARGES, _discharge,
        "SELECT count(*) FROM metrics.discharges WHERE admission_id = $1", admission,
    ),
]  # fmt: skip


async def effects(dsn: str, consumer: Consumer, events: list[dict[str, Any]]) -> list[int]:
    """The events' effects in one snapshot: read one after the other, the flaky event's
    could be read before its commit and the next event's after its own, a few ms later (CI
    saw [0, 0, 1] once)."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            return [
                await conn.fetchval(consumer.effect_sql, consumer.effect_key(e)) for e in events
            ]
    finally:
        await conn.close()


async def dead_letters(bootstrap: str, consumer: Consumer, event_id: str) -> list[dict[str, str]]:
    """The headers of every dead letter of `event_id` that `consumer.service` wrote."""
    found = []
    for r in await read_all(bootstrap, topics.dead_letter_topic(consumer.topic)):
        headers = {k: v.decode() for k, v in r.headers}
        if event_id.encode() in (r.value or b"") and headers["dlq-service"] == consumer.service:
            found.append(headers)
    return found


@pytest.mark.parametrize("consumer", CONSUMERS, ids=[c.service for c in CONSUMERS])
async def test_a_failing_handler_is_retried_then_dead_lettered_and_the_next_event_goes_on(
    consumer: Consumer, stack_config, stack_env
) -> None:  # type: ignore[no-untyped-def]
    bootstrap, dsn = stack_env["KAFKA_BOOTSTRAP_SERVERS"], stack_env["DATABASE_URL"]
    marker = uuid.uuid4().hex
    base = uuid.uuid4().int % 10**9
    patient_id = f"P-FAIL-{marker[:8]}"  # one key: one partition, in this order
    broken, flaky, after = (consumer.make(base + i, patient_id) for i in range(3))
    flaky["id"], broken["id"] = f"flaky-{marker}", f"broken-{marker}"
    prefix = consumer.service.upper()
    env = {
        "HOSPITAL_FAILPOINTS": f"handler.fail_once=flaky-{marker},"
        f"handler.fail_always=broken-{marker}",
        f"{prefix}_MAX_HANDLER_ATTEMPTS": str(ATTEMPTS),
        f"{prefix}_RETRY_INITIAL_BACKOFF_S": "0.05",
        # Every failure written: the log's repeat limiter would fold them into a summary, and
        # the test counts them.
        "LOG_REPEAT_WINDOW_S": "0",
    }
    with running(stack_config, consumer.service, env) as service:
        await publish(
            bootstrap, consumer.topic, [(patient_id, to_bytes(e)) for e in (broken, flaky, after)]
        )

        async def after_processed() -> list[int] | None:
            counts = await effects(dsn, consumer, [flaky, broken, after])
            return counts if counts[2] else None

        # The events after the broken one were processed (the last proves all were consumed).
        assert await eventually(after_processed, timeout=90) == [1, 0, 1]
        [headers] = await eventually(
            lambda: dead_letters(bootstrap, consumer, broken["id"]), timeout=30
        )
        log = service.log
    assert headers["dlq-error-kind"] == "handler_error"
    assert headers["dlq-attempts"] == str(ATTEMPTS)
    assert f"handler.fail_always on event {broken['id']}" in headers["dlq-reason"]
    assert headers["dlq-original-topic"] == consumer.topic
    # The flaky event failed once, and its one retry succeeded; the broken one failed on every
    # attempt the service allows, and no more.
    raised = [line for line in log.splitlines() if "failpoint raised" in line]
    assert sum(flaky["id"] in line for line in raised) == 1
    assert sum(broken["id"] in line for line in raised) == ATTEMPTS
