"""The outbox relay on the real PostgreSQL: several instances at once publish every event
exactly once and in the order it was written; a broker failure loses nothing."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from hospital_shared import db
from hospital_shared.events import RegistrationNoShow, make_event
from hospital_shared.fakes import RecordingPublisher
from hospital_shared.outbox import OutboxRelay, add_to_outbox
from tests.factories import NOW
from tests.kafka_tools import eventually


async def _schema_with_outbox(dsn: str) -> str:
    schema = f"relaytest_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(dsn)
    try:
        await db.migrate(conn, schema=schema, folders={"shared": db.SHARED_MIGRATIONS})
    finally:
        await conn.close()
    return schema


# Published events are kept a day (marked), or deleted as they are published (0).
@pytest.mark.parametrize("keep_published_s", [86400.0, 0.0])
async def test_two_relays_publish_each_event_once_in_order(stack_env, keep_published_s) -> None:  # type: ignore[no-untyped-def]
    dsn = stack_env["DATABASE_URL"]
    schema = await _schema_with_outbox(dsn)
    pool = await db.create_pool(dsn, schema=schema, max_size=6)
    try:
        async with pool.acquire() as conn, conn.transaction():
            for n in range(600):
                event = make_event(
                    "registration.no_show",
                    RegistrationNoShow(registration_id=f"R{n}"),
                    source="urn:test",
                    subject=f"P{n % 7}",
                    time=NOW,
                )
                await add_to_outbox(conn, event, topic="t", key=f"P{n % 7}")
        publisher = RecordingPublisher(delay_s=0.01, fail_next=1)
        relays = [
            OutboxRelay(
                pool,
                publisher,
                service="test",
                batch_size=50,
                poll_interval_s=0.05,
                keep_published_s=keep_published_s,
            )
            for _ in range(2)
        ]
        tasks = [asyncio.create_task(r.run()) for r in relays]
        try:
            await eventually(lambda: len(publisher.sent) >= 600, timeout=20, interval=0.1)
            # Proof that the relays have nothing more to send of these: a marker written now
            # is published, and they publish in the order written.
            async with pool.acquire() as conn:
                marker = make_event(
                    "registration.no_show", RegistrationNoShow(registration_id="MARKER"),
                    source="urn:test", subject="M", time=NOW,
                )  # fmt: skip
                await add_to_outbox(conn, marker, topic="t", key="M")
            await eventually(lambda: b"MARKER" in publisher.sent[-1][2], timeout=20, interval=0.1)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        ids = [payload for _, _, payload in publisher.sent[:-1]]
        assert len(ids) == 600 and len(set(ids)) == 600  # each once, despite a broker failure
        order = [int(p.split(b'"registration_id":"R')[1].split(b'"')[0]) for p in ids]
        assert order == sorted(order)  # the order they were written
        async with pool.acquire() as conn:
            assert (
                await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
            )
            kept = await conn.fetchval("SELECT count(*) FROM outbox")
            assert kept == (601 if keep_published_s else 0)  # with the marker
    finally:
        await pool.close()
        conn = await asyncpg.connect(dsn)
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()
