"""A case's clocks on the real PostgreSQL (the audit of 2026-12, /tmp/audit3): an imaging
dispute radiology confirmed in cycle 1 gets no second 2-hour `imaging_confirmation` clock when
reopened, which nothing could stop (radiology confirms once) and the timer would warn and breach
on; and at its due instant a limit is met, not breached, by the timer and the lists alike."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from complaints import cases, procedure, repository, roster, timers
from complaints.access import Actor
from complaints.domain import Status
from complaints.intake import NewComplaint, number_allocator, open_case
from complaints.policy import CasePolicy, default_rules
from complaints.rulebook import category_rules, seed_rules
from tests.integration.schemas import schema_pool

POLICY = CasePolicy(limit_rules=default_rules(), tz=ZoneInfo("Asia/Shanghai"))
RADIOLOGY = Actor("S-RAD-01", "agent", "RAD")
SUPERVISOR = Actor("S-RAD-SUP", "supervisor", "RAD")


@pytest.fixture
async def pool(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    async with schema_pool(stack_env["DATABASE_URL"], "reopenclk", "complaints") as pool:
        await seed(pool, RADIOLOGY, SUPERVISOR)
        yield pool


async def seed(pool: asyncpg.Pool, *staff: Actor) -> None:
    """The category rules, and `staff` on the roster, active in their departments."""
    async with pool.acquire() as conn:
        await seed_rules(conn)
        for who in staff:
            await roster.upsert_staff(
                conn, who.id, department_code=who.department, role=who.role,
                active=True, source="seed",
            )  # fmt: skip


async def open_at(pool: asyncpg.Pool, t: datetime, *, category: str) -> Any:
    complaint = NewComplaint(
        channel="phone", external_id=uuid.uuid4().hex, description="CT报告与实际不符",
        submitted_at=t, category=category, department_code="CARD",
    )  # fmt: skip
    async with pool.acquire() as conn, conn.transaction():
        return await open_case(
            conn, POLICY, await category_rules(conn), complaint,
            allocate=number_allocator(lambda: pool), actor=RADIOLOGY, now=t,
        )  # fmt: skip


async def test_an_imaging_dispute_confirmed_then_reopened_gets_no_second_confirmation_clock(
    pool: asyncpg.Pool,
) -> None:
    t = datetime.now(UTC)
    case, _ = await open_at(pool, t, category="imaging_dispute")
    number = case["case_number"]
    t += timedelta(minutes=30)
    async with pool.acquire() as conn, conn.transaction():
        await procedure.confirm_imaging(conn, POLICY, number, note="已复核", actor=RADIOLOGY, now=t)
    for to, who, extra in (
        ("acknowledged", RADIOLOGY, {}), ("investigating", RADIOLOGY, {}),
        ("resolution_proposed", RADIOLOGY,
         {"resolution": "复查", "resolution_kind": "free_re_examination"}),
        ("resolution_approved", SUPERVISOR, {}), ("resolution_implemented", RADIOLOGY, {}),
        ("communicated", RADIOLOGY, {}), ("reopened", RADIOLOGY, {"note": "患者仍不认可"}),
    ):  # fmt: skip
        t += timedelta(minutes=5)
        async with pool.acquire() as conn, conn.transaction():
            await cases.transition(conn, POLICY, number, to=to, actor=who, now=t, **extra)

    async with pool.acquire() as conn:
        reopened = await repository.case_by_number(conn, number)
        assert reopened is not None and reopened["cycle"] == 2
        cycle_2 = await repository.deadlines_of(conn, reopened["id"], 2)
    names = {d["limit_name"] for d in cycle_2}
    assert "first_response" in names and "imaging_confirmation" not in names
    await timers.timer_pass(pool, now=t + timedelta(hours=3), batch_size=100, desk_department="CS")
    async with pool.acquire() as conn:
        alerts = await conn.fetch("SELECT cycle, limit_name, level FROM time_limit_alerts")
    assert [tuple(a) for a in alerts if a["limit_name"] == "imaging_confirmation"] == []


async def test_at_the_due_instant_the_timer_fires_no_breach_and_the_clock_still_meets_the_limit(
    pool: asyncpg.Pool,
) -> None:
    t0 = datetime.now(UTC)
    case, _ = await open_at(pool, t0, category="waiting_time")
    async with pool.acquire() as conn:
        (first,) = [
            d for d in await repository.deadlines_of(conn, case["id"])
            if d["limit_name"] == "first_response"
        ]  # fmt: skip
    due = first["due_at"]

    await timers.timer_pass(pool, now=due, batch_size=100, desk_department="CS")
    async with pool.acquire() as conn:
        alerts = await conn.fetch("SELECT limit_name, level FROM time_limit_alerts")
        listed = await repository.list_cases(
            conn, filters={"time_limit": "breached"}, visible_to=None, limit=10, now=due
        )
        warned = await repository.list_cases(
            conn, filters={"time_limit": "warning"}, visible_to=None, limit=10, now=due
        )
    assert sorted(tuple(a) for a in alerts if a["limit_name"] == "first_response") == [
        ("first_response", "warning")
    ]
    assert listed == [] and [c["case_number"] for c in warned] == [case["case_number"]]
    async with pool.acquire() as conn, conn.transaction():
        await cases.transition(
            conn, POLICY, case["case_number"], to=Status.ACKNOWLEDGED.value,
            actor=Actor("system:test", "system"), now=due,
        )  # fmt: skip
        settled = await repository.deadlines_of(conn, case["id"])
    assert [d["outcome"] for d in settled if d["limit_name"] == "first_response"] == ["met"]
