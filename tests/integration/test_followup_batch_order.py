"""One follow-up consumer reads the discharges and the registrations (since 2026-12), so a
discharge and a later transfer of the same admission (ADT^A02, on the registrations) can
share a batch; on the real PostgreSQL the transfer moves the call the discharge planned, and
the two are never split into transactions that cannot see each other's rows."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from aiokafka import ConsumerRecord

from followup.handlers import EventHandlers
from followup.service import policy_book
from followup.settings import Settings
from hospital_shared import topics
from hospital_shared.codec import decode
from hospital_shared.consumer import Received, _by_partition
from hospital_shared.publishing import partition_of
from tests.factories import discharge, envelope, to_bytes
from tests.integration.schemas import schema_pool


@pytest.fixture
async def pool(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    async with schema_pool(stack_env["DATABASE_URL"], "fuorder", "followup", max_size=2) as p:
        yield p


def discharge_and_transfer() -> tuple[dict[str, Any], dict[str, Any]]:
    n = uuid.uuid4().int % 10**8
    discharged = discharge(n)
    patient_id = discharged["data"]["patient"]["patient_id"]
    moved = envelope(
        "patient.transferred",
        {"patient_id": patient_id, "admission_id": discharged["data"]["admission_id"],
         "department": {"code": "NEURO", "name": "神经内科"},
         "transferred_at": datetime.now(UTC).isoformat()},
        subject=patient_id,
    )  # fmt: skip
    return discharged, moved


async def test_a_transfer_after_its_discharge_in_one_batch_moves_the_planned_call(
    pool: asyncpg.Pool,
) -> None:
    discharged, moved = discharge_and_transfer()
    settings = Settings()
    handlers = EventHandlers(policy_book(settings), ZoneInfo(settings.hospital_tz))
    events = [decode(to_bytes(e)) for e in (discharged, moved)]
    async with pool.acquire() as conn, conn.transaction():
        await handlers.handle_batch(conn, events)
    task_id = f"FU-{discharged['data']['admission_id']}"
    async with pool.acquire() as conn:
        department = await conn.fetchval(
            "SELECT department_code FROM follow_up_tasks WHERE task_id = $1", task_id
        )
        published = [
            json.loads(bytes(r["payload"]))["type"]
            for r in await conn.fetch("SELECT payload FROM outbox ORDER BY id")
        ]
    assert department == "NEURO"
    assert "followup.task_transferred" in published, published


def test_one_patients_events_on_two_topics_are_in_one_part() -> None:
    """The topics have the same partitions and the same key, the patient id: a batch split in
    two transactions keeps a patient's discharge and transfer in the same one."""
    items = []
    for offset in range(40):
        discharged, moved = discharge_and_transfer()
        for topic, event in ((topics.DISCHARGES, discharged), (topics.REGISTRATIONS, moved)):
            key = event["subject"].encode()
            value = to_bytes(event)
            partition = partition_of(list(range(12)), key)
            record = ConsumerRecord(topic, partition, offset, 0, 0, key, value, None, 0, 0, [])
            items.append(Received(record, event=decode(value)))
    parts = _by_partition(items, 2)
    assert len(parts) == 2
    for part in parts:
        subjects = {i.event.subject for i in part if i.event is not None}
        others = {i.event.subject for p in parts if p is not part for i in p if i.event}
        assert not subjects & others
