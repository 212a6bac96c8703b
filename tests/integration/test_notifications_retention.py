"""Retention of the notifications service's personal data, on the real database: what finished
or was last reported longer ago than the retention period is destroyed, in batches; what may
still be needed is kept (unfinished messages, every opt-out, a death flag). The running
service runs the purge as a periodic job."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from notifications import retention
from tests.integration.schemas import schema_pool
from tests.integration.services import running
from tests.kafka_tools import eventually

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=800)  # past the 730-day retention
RECENT = NOW - timedelta(days=10)


@pytest.fixture
async def pool(stack_env) -> AsyncIterator[asyncpg.Pool]:  # type: ignore[no-untyped-def]
    async with schema_pool(stack_env["DATABASE_URL"], "notifyretain", "notifications") as p:
        yield p


async def message(
    conn: asyncpg.Connection,
    name: str,
    status: str,
    at: datetime,
    patient_id: str = "P1",
    **more: Any,
) -> uuid.UUID:
    """A message row `name` (its idempotency key) in `status`, finished (or last touched) `at`."""
    mid = uuid.uuid4()
    final = status not in retention.ACTIVE
    row: dict[str, Any] = {
        "id": mid, "idempotency_key": name, "source_event_id": f"E-{name}",
        "source_event_type": "registration.created", "template": "visit_reminder",
        "audience": "patient", "channel": "sms", "patient_id": patient_id,
        "body": "您好，明天上午九点请到门诊三楼就诊。", "encoding": "ucs2", "segments": 1,
        "status": status, "due_at": at, "send_after": at, "to_number": "+8613800138000",
        "finished_at": at if final else None, "created_at": at, "updated_at": at, **more,
    }  # fmt: skip
    names = ", ".join(row)
    values = ", ".join(f"${i}" for i in range(1, len(row) + 1))
    await conn.execute(f"INSERT INTO messages ({names}) VALUES ({values})", *row.values())
    return mid


async def seed(conn: asyncpg.Connection) -> dict[str, uuid.UUID]:
    ids = {
        "old delivered": await message(conn, "old delivered", "delivered", OLD),
        "old expired": await message(conn, "old expired", "expired", OLD),
        "old failed": await message(conn, "old failed", "failed", OLD, patient_id="P2"),
        "old digest": await message(conn, "old digest", "delivered", OLD, patient_id=None),
        "recent delivered": await message(conn, "recent delivered", "delivered", RECENT, "P3"),
        "old pending": await message(conn, "old pending", "pending", OLD, patient_id="P4"),
        "old submitted": await message(conn, "old submitted", "submitted", OLD, "P4"),
    }
    ids["old digested item"] = await message(
        conn, "old digested item", "digested", OLD, patient_id=None, digest_id=ids["old digest"]
    )
    ids["recent resend"] = await message(
        conn, "recent resend", "delivered", RECENT, "P2", resend_of=ids["old failed"]
    )
    ids["recent digested item"] = await message(
        conn, "recent digested item", "digested", RECENT, patient_id=None,
        digest_id=ids["old digest"],
    )  # fmt: skip
    await conn.executemany(
        "INSERT INTO patients (patient_id, phone, deceased, updated_at) VALUES ($1, $2, $3, $4)",
        [
            ("P1", "+8613800000001", False, OLD),  # its messages all go: it goes
            ("P2", "+8613800000002", False, OLD),  # a recent message left: kept
            ("P5", "+8613800000005", False, RECENT),  # reported lately: kept
            ("P6", "+8613800000006", True, OLD),  # deceased: the flag stays, the phone goes
        ],
    )
    await conn.executemany(
        "INSERT INTO inbound_sms (phone, text, action, received_at) VALUES ($1, $2, $3, $4)",
        [("+8613800000001", "退订", "opt_out", OLD), ("+8613800000003", "谢谢", "none", RECENT)],
    )
    await conn.executemany(
        "INSERT INTO withdrawn_subjects (subject_ref, reason, source_event_id, created_at)"
        " VALUES ($1, 'cancelled', 'E', $2)",
        [("R-old", OLD), ("R-recent", RECENT)],
    )
    await conn.executemany(
        "INSERT INTO survey_links (link_id, token_hash, patient_id, contact_ref, contact_kind,"
        " source_event_id, expires_at) VALUES ($1, $2, 'P1', $1, 'outpatient_visit', 'E', $3)",
        [("link-old", b"old", OLD), ("link-recent", b"recent", RECENT)],
    )
    await conn.executemany(
        "INSERT INTO opt_outs (patient_id, source, created_at, revoked_at) VALUES ($1, 'api', $2, $3)",
        [("P-in-force", OLD, None), ("P-revoked-long-ago", OLD, OLD), ("P-revoked-lately", OLD, RECENT)],
    )  # fmt: skip
    return ids


async def test_what_is_past_retention_is_destroyed_and_what_may_be_needed_is_kept(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        ids = await seed(conn)
    purged = await retention.purge_expired(pool, retention_days=730, batch_size=2, now=NOW)

    assert purged == retention.Purged(
        messages=5, patients=1, phones_cleared=1, inbound_sms=1, withdrawn_subjects=1,
        survey_links=1,
    )  # fmt: skip
    links = await pool.fetch("SELECT link_id FROM survey_links")
    assert [r["link_id"] for r in links] == ["link-recent"]  # expired 10 days ago: kept
    left = {r["idempotency_key"]: r for r in await pool.fetch("SELECT * FROM messages")}
    assert sorted(left) == [
        "old pending", "old submitted", "recent delivered", "recent digested item",
        "recent resend",
    ]  # fmt: skip
    assert left["recent resend"]["resend_of"] is None  # pointed at "old failed"
    assert left["recent digested item"]["digest_id"] is None  # pointed at "old digest"
    assert left["old pending"]["id"] == ids["old pending"]
    patients = {r["patient_id"]: r for r in await pool.fetch("SELECT * FROM patients")}
    assert sorted(patients) == ["P2", "P5", "P6"]
    assert patients["P6"]["deceased"] is True and patients["P6"]["phone"] is None
    assert patients["P2"]["phone"] == "+8613800000002"
    assert [r["text"] for r in await pool.fetch("SELECT text FROM inbound_sms")] == ["谢谢"]
    assert [r["subject_ref"] for r in await pool.fetch("SELECT * FROM withdrawn_subjects")] == [
        "R-recent"
    ]
    opt_outs = await pool.fetch("SELECT patient_id FROM opt_outs ORDER BY patient_id")
    assert [r["patient_id"] for r in opt_outs] == [  # every one kept: the consent record
        "P-in-force", "P-revoked-lately", "P-revoked-long-ago",
    ]  # fmt: skip

    again = await retention.purge_expired(pool, retention_days=730, batch_size=2, now=NOW)
    assert again.total == 0


async def test_a_longer_retention_keeps_everything(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await seed(conn)
    purged = await retention.purge_expired(pool, retention_days=900, batch_size=100, now=NOW)
    assert purged.total == 0
    assert await pool.fetchval("SELECT count(*) FROM messages") == 10


async def test_the_service_runs_the_purge_as_a_periodic_job(stack_config, stack_env) -> None:  # type: ignore[no-untyped-def]
    env = {"NOTIFICATIONS_RETENTION_INTERVAL_S": "0.5"}
    with running(stack_config, "notifications", env) as service:

        async def passes() -> float:
            async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
                text = (await client.get("/metrics")).text
            return sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("hospital_job_runs_total{")
                and 'job="retention"' in line
                and 'result="ok"' in line
            )

        assert await eventually(lambda: _at_least(passes, 2), timeout=30)


async def _at_least(count: Callable[[], Awaitable[float]], n: float) -> bool:
    return await count() >= n
