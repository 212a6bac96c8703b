"""Follow-up outcomes sent twice at once, on the real PostgreSQL: the task's row lock orders
the two, and the attempt each names refuses the second, so one dial counts once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from followup import calls, repository
from followup.domain import AttemptNotNext, CallOutcome, RetryPlanned
from followup.planning import PlannedCall
from followup.policy import PolicyBook
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
