"""Steps on a complaint case sent by people looking at different states of it, on the real
PostgreSQL (the audit of 2026-12, /tmp/audit3): a step carries the version of the case its
sender read and is refused when the case has changed since, so a supervisor never approves a
resolution they did not read and a close racing a reopen cannot both happen; and an
accountability record posted twice with its form's one-time key is made once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from complaints import cases, procedure, repository, roster
from complaints.access import Actor
from complaints.domain import AccountabilityMeasure
from complaints.intake import NewComplaint, number_allocator, open_case
from complaints.policy import CasePolicy, default_rules
from complaints.rulebook import category_rules, seed_rules
from hospital_shared.field_crypto import open_
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
# A founded complaint's way to the summary, one step at a time.
FOUNDED: tuple[tuple[str, Actor, dict[str, str]], ...] = (
    ("acknowledged", HANDLER, {}), ("investigating", HANDLER, {}),
    ("resolution_proposed", HANDLER, PROPOSE_APOLOGY), ("resolution_approved", SUPERVISOR, {}),
    ("resolution_implemented", HANDLER, {}), ("communicated", HANDLER, {}),
    ("summary_signed_off", SUPERVISOR, {"note": "总结"}),
)  # fmt: skip


async def carry(pool: asyncpg.Pool, number: str, *, to: str) -> int:
    """Take the case along `FOUNDED` up to `to`: its version there (what a page then shows)."""
    for status, who, extra in FOUNDED:
        case = await step(pool, number, status, who, **extra)
        if status == to:
            break
    return int(case["version"])


async def test_an_approval_of_a_proposal_replaced_since_the_approver_read_it_is_refused(
    pool: asyncpg.Pool,
) -> None:
    number = await new_case(pool)
    await carry(pool, number, to="resolution_proposed")
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
    shown = await carry(pool, number, to="summary_signed_off")

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


async def account(pool: asyncpg.Pool, number: str, key: str, detail: str, version: int) -> Any:
    """The accountability form posted once, in its own transaction: the case, or the refusal."""
    async with pool.acquire() as conn:
        try:
            async with conn.transaction():
                return await procedure.record_accountability(
                    conn, number, staff_id="S-CARD-01", measure=AccountabilityMeasure.FINE,
                    detail=detail, actor=SUPERVISOR, now=datetime.now(UTC),
                    expected_version=version, record_key=key,
                )  # fmt: skip
        except cases.CaseConflict as exc:
            return exc


async def test_accountability_posted_twice_with_its_forms_key_is_recorded_once(
    pool: asyncpg.Pool,
) -> None:
    number = await new_case(pool)
    shown = await carry(pool, number, to="resolution_implemented")
    key = str(uuid.uuid4())

    twice = await asyncio.gather(
        account(pool, number, key, "罚款 200 元", shown),
        account(pool, number, key, "罚款 200 元", shown),
    )

    assert all(isinstance(answer, dict) for answer in twice), twice
    async with pool.acquire() as conn:
        records = await conn.fetch("SELECT id, detail FROM case_accountability")
        events = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE convert_from(payload, 'UTF8')::jsonb->>'type'"
            " = 'complaint.case_accountability_recorded'"
        )
    assert [open_(r["detail"]) for r in records] == ["罚款 200 元"] and events == 1  # sealed
    assert (await read(pool, number))["version"] == shown + 1
    other = await account(pool, number, key, "罚款 500 元", shown + 1)
    assert isinstance(other, cases.CaseConflict) and not isinstance(other, cases.StaleCase)
    assert "another record" in str(other)
