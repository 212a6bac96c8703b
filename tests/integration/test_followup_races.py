"""Follow-up on the real PostgreSQL: outcomes sent twice at once (the task's row lock orders
the two, and the attempt each names refuses the second, so one dial counts once), and a task
withdrawn and planned again, whose new life's events are not dropped as its first's."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from followup import calls, jobs, repository
from followup.domain import AttemptNotNext, CallOutcome, RetryPlanned
from followup.planning import PlannedCall
from followup.policy import PolicyBook
from followup.repository import Withdrawal
from hospital_shared.auth import Principal, Role
from tests.integration.schemas import schema_pool

SH = ZoneInfo("Asia/Shanghai")
AGENT = Principal(role=Role.AGENT, staff_id="S-A1", department="CARD")


@pytest.fixture
async def pool(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    async with schema_pool(stack_env["DATABASE_URL"], "furace", "followup", max_size=4) as p:
        yield p


def planned_call(task_id: str, now: datetime) -> PlannedCall:
    return PlannedCall(
        task_id=task_id, kind="inpatient_discharge", rule="t", patient_id="P-" + task_id,
        patient_name="张三", patient_phone="+8613800138000", sms_opt_out=False,
        department_code="CARD", department_name="心内科", source_event_id="ev-" + task_id,
        source_ref="A1", not_before=now - timedelta(hours=2), due_at=now - timedelta(hours=1),
        roles=("agent",), max_attempts=3,
    )  # fmt: skip


async def test_the_same_not_reached_outcome_sent_twice_at_once_counts_one_attempt(
    pool: asyncpg.Pool,
) -> None:
    """Before, both answered 200 (attempts 1 and 2) and a third send made the patient
    unreachable after one real call."""
    task_id = "FU-R" + uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        await repository.insert_planned(conn, planned_call(task_id, now), source_time=now)
        await repository.reassign(conn, task_id, "S-A1")

    async def not_reached() -> object:
        async with pool.acquire() as conn:
            try:
                async with conn.transaction():
                    decision, _ = await calls.record_outcome(
                        conn, task_id=task_id, principal=AGENT, book=PolicyBook(), tz=SH,
                        outcome=CallOutcome(reached=False, not_reached_reason="no_answer"),
                        now=datetime.now(UTC), attempt=1,
                    )  # fmt: skip
                return decision
            except AttemptNotNext as refused:
                return refused

    answers = await asyncio.gather(not_reached(), not_reached())
    answers.append(await not_reached())  # the browser's retry, later
    assert sum(isinstance(a, RetryPlanned) for a in answers) == 1, answers
    refusals = [a for a in answers if isinstance(a, AttemptNotNext)]
    assert len(refusals) == 2 and all(r.attempts_made == 1 for r in refusals)
    async with pool.acquire() as conn:
        task = await conn.fetchrow(
            "SELECT status, attempts_made FROM follow_up_tasks WHERE task_id = $1", task_id
        )
        dials = await conn.fetchval(
            "SELECT count(*) FROM call_attempts WHERE task_id = $1", task_id
        )
        retries = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE event_id LIKE $1", f"{task_id}:retry:%"
        )
    assert (task["status"], task["attempts_made"], dials, retries) == ("assigned", 1, 1, 1)


async def test_a_task_planned_again_after_its_withdrawal_tells_the_new_assignee_it_is_overdue(
    pool: asyncpg.Pool,
) -> None:
    """A discharge cancelled by mistake and entered again: before, the second life's due and
    overdue events had the first life's ids and the outbox dropped them, so nobody was told;
    and its first failed attempt collided with the first life's in call_attempts."""
    task_id = "FU-G" + uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    t0 = now - timedelta(days=1)
    async with pool.acquire() as conn, conn.transaction():
        await repository.insert_planned(conn, planned_call(task_id, now), source_time=t0)
        await repository.reassign(conn, task_id, "S-A1")
    await jobs.publish_due_and_overdue(pool, batch_size=100)
    await not_reached_once(pool, task_id)
    withdrawal = Withdrawal(task_id, "discharge_cancelled", "ev-cancel", t0 + timedelta(hours=1))
    async with pool.acquire() as conn, conn.transaction():
        await repository.withdraw_many(conn, [withdrawal])
    async with pool.acquire() as conn, conn.transaction():
        again = planned_call(task_id, now)
        assert await repository.insert_planned(conn, again, source_time=t0 + timedelta(hours=2))
        await repository.reassign(conn, task_id, "S-A2")
    assert await jobs.publish_due_and_overdue(pool, batch_size=100) == 2
    ids = await told(pool, task_id)
    # the first life keeps the ids it always had; the second names its life
    assert {f"{task_id}:due:1", f"{task_id}:overdue:1", f"{task_id}:retry:1"} <= ids.keys()
    assert ids[f"2:{task_id}:due:1"] == ids[f"2:{task_id}:overdue:1"] == "S-A2", ids
    await not_reached_once(pool, task_id, "S-A2")
    async with pool.acquire() as conn:
        dials = await conn.fetchval(
            "SELECT count(*) FROM call_attempts WHERE task_id = $1", task_id
        )
    assert f"2:{task_id}:retry:1" in await told(pool, task_id) and dials == 2


async def told(pool: asyncpg.Pool, task_id: str) -> dict[str, str | None]:
    """The task's events in the outbox: each id with the assignee it names."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT event_id, convert_from(payload, 'UTF8')::jsonb->'data'->>'assignee_id' AS a"
            " FROM outbox WHERE event_id LIKE $1 OR event_id ~ ('^[0-9]+:' || $2 || ':')"
            " ORDER BY id",
            f"{task_id}:%",
            task_id,
        )
    return {r["event_id"]: r["a"] for r in rows}


async def not_reached_once(pool: asyncpg.Pool, task_id: str, staff_id: str = "S-A1") -> None:
    caller = Principal(role=Role.AGENT, staff_id=staff_id, department="CARD")
    async with pool.acquire() as conn, conn.transaction():
        await calls.record_outcome(
            conn, task_id=task_id, principal=caller, book=PolicyBook(), tz=SH,
            outcome=CallOutcome(reached=False, not_reached_reason="no_answer"),
            now=datetime.now(UTC),
        )  # fmt: skip
