"""Steps on a complaint case sent by people looking at different states of it, on the real
PostgreSQL (the audit of 2026-12, /tmp/audit3): a step carries the version of the case its
sender read and is refused when the case has changed since, so a supervisor never approves a
resolution they did not read and a close racing a reopen cannot both happen."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from complaints import cases, repository, roster
from complaints.access import Actor
from complaints.intake import NewComplaint, number_allocator, open_case
from complaints.policy import CasePolicy, default_rules
from complaints.rulebook import category_rules, seed_rules
from tests.integration.schemas import schema_pool

POLICY = CasePolicy(limit_rules=default_rules(), tz=ZoneInfo("Asia/Shanghai"))
HANDLER = Actor("S-CARD-01", "doctor", "CARD")
SUPERVISOR = Actor("S-CARD-SUP", "supervisor", "CARD")
OTHER_SUPERVISOR = Actor("S-CARD-SUP2", "supervisor", "CARD")
STAFF = (("S-CARD-01", "doctor"), ("S-CARD-SUP", "supervisor"), ("S-CARD-SUP2", "supervisor"))


@pytest.fixture
async def pool(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    async with schema_pool(stack_env["DATABASE_URL"], "casever", "complaints") as pool:
        async with pool.acquire() as conn:
            await seed_rules(conn)
            for staff_id, role in STAFF:
                await roster.upsert_staff(
                    conn, staff_id, department_code="CARD", role=role, active=True, source="seed"
                )
        yield pool


async def new_case(pool: asyncpg.Pool) -> str:
    complaint = NewComplaint(
        channel="phone", external_id=uuid.uuid4().hex, description="候诊时间太长",
        submitted_at=datetime.now(UTC), category="waiting_time", department_code="CARD",
    )  # fmt: skip
    async with pool.acquire() as conn, conn.transaction():
        case, _ = await open_case(
            conn, POLICY, await category_rules(conn), complaint,
            allocate=number_allocator(lambda: pool), actor=HANDLER, now=datetime.now(UTC),
        )  # fmt: skip
    return str(case["case_number"])


async def step(pool: asyncpg.Pool, number: str, to: str, who: Actor, **extra: Any) -> Any:
    """One step in its own transaction: the case after it, or the refusal raised."""
    async with pool.acquire() as conn:
        try:
            async with conn.transaction():
                return await cases.transition(
                    conn, POLICY, number, to=to, actor=who, now=datetime.now(UTC), **extra
                )
        except cases.CaseConflict as exc:
            return exc


async def read(pool: asyncpg.Pool, number: str) -> dict[str, Any]:
    async with pool.acquire() as conn:
        case = await repository.case_by_number(conn, number)
    assert case is not None
    return case


PROPOSE_APOLOGY = {"resolution": "道歉", "resolution_kind": "apology"}


async def test_an_approval_of_a_proposal_replaced_since_the_approver_read_it_is_refused(
    pool: asyncpg.Pool,
) -> None:
    number = await new_case(pool)
    for to, extra in (("acknowledged", {}), ("investigating", {}),
                      ("resolution_proposed", PROPOSE_APOLOGY)):  # fmt: skip
        await step(pool, number, to, HANDLER, **extra)
    on_screen = await read(pool, number)  # the supervisor reads 道歉
    assert on_screen["resolution"] == "道歉"
    await step(pool, number, "investigating", OTHER_SUPERVISOR)  # sent back meanwhile
    await step(pool, number, "resolution_proposed", HANDLER,
               resolution="退款 5000 元", resolution_kind="refund")  # fmt: skip

    refused = await step(
        pool, number, "resolution_approved", SUPERVISOR,
        expected_version=on_screen["version"],
    )  # fmt: skip

    assert isinstance(refused, cases.StaleCase), refused
    now = await read(pool, number)
    assert (refused.current_status, refused.current_version) == (
        "resolution_proposed",
        now["version"],
    )
    assert now["version"] == on_screen["version"] + 2
    assert (now["status"], now["resolution"]) == ("resolution_proposed", "退款 5000 元")
    # Read again, the approval of what is now on screen goes through.
    approved = await step(
        pool, number, "resolution_approved", SUPERVISOR, expected_version=now["version"]
    )
    assert approved["status"] == "resolution_approved"
    assert approved["version"] == now["version"] + 1


async def test_close_and_reopen_sent_at_once_from_the_same_page_do_not_both_happen(
    pool: asyncpg.Pool,
) -> None:
    number = await new_case(pool)
    for to, who, extra in (
        ("acknowledged", HANDLER, {}), ("investigating", HANDLER, {}),
        ("resolution_proposed", HANDLER, PROPOSE_APOLOGY), ("resolution_approved", SUPERVISOR, {}),
        ("resolution_implemented", HANDLER, {}), ("communicated", HANDLER, {}),
        ("summary_signed_off", SUPERVISOR, {"note": "总结"}),
    ):  # fmt: skip
        await step(pool, number, to, who, **extra)
    shown = (await read(pool, number))["version"]

    outcomes = await asyncio.gather(
        step(pool, number, "closed", HANDLER, expected_version=shown),
        step(pool, number, "reopened", SUPERVISOR, note="需再处理", expected_version=shown),
    )

    refused = [o for o in outcomes if isinstance(o, cases.StaleCase)]
    done = [o for o in outcomes if isinstance(o, dict)]
    assert (len(done), len(refused)) == (1, 1), outcomes
    async with pool.acquire() as conn:
        events = await conn.fetch(
            "SELECT convert_from(payload, 'UTF8')::jsonb->>'type' AS t FROM outbox ORDER BY id"
        )
    kinds = [e["t"] for e in events]
    assert ("complaint.case_closed" in kinds) != ("complaint.case_reopened" in kinds), kinds
    assert refused[0].current_status == done[0]["status"]
