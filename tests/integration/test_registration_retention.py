"""Retention of the gateway's working tables on the real database: closed visits, given-up held
cancellations and old dedup ids are deleted on time; open admissions are kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY

from registration import retention
from tests.factories import envelope, registration
from tests.integration.test_registration_ingest import ack_code, http, mllp, service, uid
from tests.registration.messages import adt

__all__ = ["http", "service"]  # module fixtures shared with the ingest tests

RULES = retention.Retention(visit_days=90, held_expiry_days=14, dedup_window_days=30, batch_size=2)


@pytest.fixture
async def pool(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(
        stack_env["DATABASE_URL"], server_settings={"search_path": "registration"}
    ) as p:
        yield p


def expired(type_: str) -> float:
    value = REGISTRY.get_sample_value("hospital_registration_held_expired_total", {"type": type_})
    return value or 0.0


async def visits(pool: asyncpg.Pool, *ids: str) -> dict[str, str]:
    rows = await pool.fetch(
        "SELECT visit_id, status FROM visits WHERE visit_id = ANY($1::text[])", list(ids)
    )
    return {r["visit_id"]: r["status"] for r in rows}


async def test_retention_keeps_what_may_still_be_needed_and_destroys_the_rest(
    http: httpx.AsyncClient, stack_config: Any, pool: asyncpg.Pool
) -> None:
    n = uid()
    open_reg, closed_reg, orphan = registration(n), registration(n + 1), f"R{n + 2:06d}"
    # booked for four months ahead: its cancellation may still come when the others go
    ahead = registration(n + 3)
    ahead["data"]["appointment_at"] = (datetime.now(UTC) + timedelta(days=120)).isoformat()
    cancel = envelope(
        "registration.cancelled",
        {"registration_id": closed_reg["data"]["registration_id"], "cancelled_at": "2026-11-23T10:00:00+08:00"},
        subject=closed_reg["subject"],
    )  # fmt: skip
    held = envelope(
        "registration.cancelled",
        {"registration_id": orphan, "cancelled_at": "2026-11-23T10:00:00+08:00"},
        subject="P-ORPHAN",
    )
    response = await http.post("/v1/events", json=[open_reg, closed_reg, cancel, held, ahead])
    assert response.status_code == 202, response.text
    admission = adt("A01", f"KEEP-{n}", patient_id=f"HP{n}", visit_id=f"HK{n}", patient_class="I")
    assert [ack_code(a) for a in await mllp(stack_config.mllp_port, admission)] == ["AA"]
    ids = (open_reg["data"]["registration_id"], closed_reg["data"]["registration_id"], f"HK{n}")
    assert await visits(pool, *ids) == {
        ids[0]: "registered",
        ids[1]: "cancelled",
        ids[2]: "admitted",
    }
    assert await pool.fetchval("SELECT count(*) FROM held_intakes WHERE visit_id = $1", orphan) == 1
    event_ids = [e["id"] for e in (open_reg, closed_reg, cancel, held)]

    # 20 days on: only the held cancellation is past its time (14 days).
    before = expired("registration.cancelled")
    soon = datetime.now(UTC) + timedelta(days=20)
    while await retention.purge(pool, RULES, now=soon) >= RULES.batch_size:
        pass
    assert await pool.fetchval("SELECT count(*) FROM held_intakes WHERE visit_id = $1", orphan) == 0
    assert expired("registration.cancelled") >= before + 1
    assert len(await visits(pool, *ids)) == 3
    kept = "SELECT count(*) FROM received_events WHERE event_id = ANY($1::text[])"
    assert await pool.fetchval(kept, event_ids) == 4
    hl7_kept = "SELECT count(*) FROM hl7_messages WHERE control_id = $1"
    assert await pool.fetchval(hl7_kept, f"KEEP-{n}") == 1

    # 100 days on: ids are forgotten, visits go, except the admission still open and the
    # registration whose appointment is still ahead
    later = datetime.now(UTC) + timedelta(days=100)
    while await retention.purge(pool, RULES, now=later) >= RULES.batch_size:
        pass
    booked = ahead["data"]["registration_id"]
    assert await visits(pool, *ids, booked) == {ids[2]: "admitted", booked: "registered"}
    # 90 days after that appointment it goes too
    last = datetime.now(UTC) + timedelta(days=211)
    while await retention.purge(pool, RULES, now=last) >= RULES.batch_size:
        pass
    assert await visits(pool, *ids, booked) == {ids[2]: "admitted"}
    assert await pool.fetchval(kept, event_ids) == 0
    assert await pool.fetchval(hl7_kept, f"KEEP-{n}") == 0
