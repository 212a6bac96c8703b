"""Patient SMS statuses on the real PostgreSQL: a batch of them (written a wave of distinct
messages at a time) records and counts exactly what the same events do one batch each, each
(message, status) once, staff alerts not at all."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import asyncpg

from hospital_shared.events import CloudEvent, RegistrationNoShow, make_event, topic_for
from hospital_shared.service_events.notifications import SmsStatusChanged
from metrics.handlers import MetricsHandler
from metrics.settings import Settings
from tests.factories import NOW
from tests.integration.schemas import new_schema


def sms(message_id: str, status: str, *, template: str = "reminder", audience: str = "patient",
        requested_min: int = 0) -> CloudEvent[Any]:  # fmt: skip
    data = SmsStatusChanged(
        message_id=message_id, template=template, audience=audience,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        encoding="ucs2", segments=1, attempts=1, source_event_id="E-1",
        source_event_type="followup.task_planned",
        requested_at=NOW + timedelta(minutes=requested_min), occurred_at=NOW,
    )  # fmt: skip
    return make_event(f"sms.{status}", data, source="urn:test", subject="P-1", time=NOW)


def no_show() -> CloudEvent[Any]:
    data = RegistrationNoShow(registration_id=f"R-{uuid.uuid4().hex[:6]}")
    return make_event("registration.no_show", data, source="urn:test", subject="P-2", time=NOW)


EVENTS = [
    sms("M1", "submitted", requested_min=5),
    sms("M1", "delivered", requested_min=1),  # earlier: the row's created_at moves to it
    sms("M2", "expired"),
    sms("M2", "expired"),  # the same status again (another event): not counted again
    sms("M3", "submitted", audience="staff"),  # staff alerts are not counted
    sms("M4", "failed", template="unknown"),
    no_show(),  # another type between two SMS runs
    sms("M4", "expired"),  # fills in the unknown template
    sms("M1", "submitted"),  # again, in the next run
    sms("M5", "delivered"),
    sms("M5", "submitted"),  # a receipt before its submission counts both
]


async def state(pool: asyncpg.Pool) -> tuple[list[tuple[Any, ...]], dict[str, int]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT message_id, template, department, created_at, status, statuses"
            " FROM sms_messages ORDER BY message_id"
        )
        totals = await conn.fetch(
            "SELECT labels, value FROM counter_totals WHERE metric = 'hospital_sms_messages'"
        )
    return [tuple(r) for r in rows], {r["labels"]: r["value"] for r in totals}


async def handled(dsn: str, batches: Sequence[Sequence[CloudEvent[Any]]]) -> Any:
    pool = await new_schema(dsn, "metrics_sms", "metrics")
    handler = MetricsHandler(Settings(), topic_for)
    try:
        for batch in batches:
            async with pool.acquire() as conn, conn.transaction():
                await handler.handle_batch(conn, batch)
        return await state(pool)
    finally:
        await pool.close()


async def test_a_batch_of_sms_statuses_counts_what_they_count_one_batch_each(stack_env) -> None:  # type: ignore[no-untyped-def]
    dsn = stack_env["DATABASE_URL"]
    one_each = await handled(dsn, [[e] for e in EVENTS])
    together = await handled(dsn, [EVENTS])
    split = await handled(dsn, [EVENTS[:3], EVENTS[3:]])
    assert together == one_each
    assert split == one_each
    rows, totals = one_each
    assert totals == {
        '{"status":"submitted","template":"reminder"}': 2,
        '{"status":"delivered","template":"reminder"}': 2,
        '{"status":"expired","template":"reminder"}': 2,
        '{"status":"failed","template":"unknown"}': 1,
    }
    by_id = {r[0]: r for r in rows}
    assert set(by_id) == {"M1", "M2", "M4", "M5"}
    assert by_id["M1"][3] == NOW + timedelta(minutes=1)
    assert by_id["M1"][5] == ["submitted", "delivered"]
    assert by_id["M4"][1:] == ("reminder", None, NOW, "expired", ["failed", "expired"])
    assert by_id["M5"][4:] == ("submitted", ["delivered", "submitted"])
