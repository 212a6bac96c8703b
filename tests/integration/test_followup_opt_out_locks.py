"""Follow-up on the real PostgreSQL: a call opt-out recorded while the same patient's calls are
handed back (a member made inactive) or merged into another patient. The opt-out locked the
call it was said on, then the patient's other open calls; the hand-back and the merge locked
those calls in the order they found them. Each held one the other wanted: PostgreSQL ended one
(a 5xx at the desk, or the consumer's retry). All three lock the calls by task id now, the
opt-out before it locks its own call."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from followup import calls, handback, repository
from followup.app import PATIENT_MOVES
from followup.domain import CallOutcome
from followup.policy import PolicyBook
from hospital_shared.auth import Principal, Role
from hospital_shared.patient_merge import apply_merge
from tests.integration.schemas import schema_pool
from tests.integration.test_followup_races import SH, planned_call

AGENT = Principal(role=Role.AGENT, staff_id="S-A1", department="CARD")


@pytest.fixture
async def pool(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    async with schema_pool(stack_env["DATABASE_URL"], "fulock", "followup", max_size=6) as p:
        yield p


async def two_calls(pool: asyncpg.Pool) -> tuple[str, str, str]:
    """A patient's two open calls, both the agent's: the patient and the calls' ids, the
    first in task-id order written first (a hand-back or a merge finds it first)."""
    patient = "P-" + uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    first, second = f"FU-{patient}-1", f"FU-{patient}-2"
    async with pool.acquire() as conn, conn.transaction():
        for task_id in (first, second):
            call = dataclasses.replace(planned_call(task_id, now), patient_id=patient)
            await repository.insert_planned(conn, call, source_time=now)
            await repository.reassign(conn, task_id, AGENT.staff_id or "")
    return patient, first, second


async def opt_out_meeting(
    pool: asyncpg.Pool,
    patient: str,
    task_id: str,
    other: Callable[[asyncpg.Connection], Awaitable[Any]],
) -> Any:
    """The patient opts out on `task_id`'s call while `other` runs on the patient's calls, in
    the interleaving that deadlocked: the outcome has its call and waits on the patient's
    opt-out row (being written by a replay of an opt-out, which rolls back); `other` starts
    meanwhile; then the outcome goes on to withdraw the patient's other call. What `other`
    answered."""

    async def opt_out() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await calls.record_outcome(
                conn, task_id=task_id, principal=AGENT, book=PolicyBook(), tz=SH,
                outcome=CallOutcome(reached=True, opt_out=True), now=datetime.now(UTC),
            )  # fmt: skip

    async def run_other() -> Any:
        async with pool.acquire() as conn, conn.transaction():
            return await other(conn)

    replay = await pool.acquire()
    try:
        tx = replay.transaction()
        await tx.start()
        await repository.add_opt_out(replay, patient, by="replay", at=datetime.now(UTC))
        opting_out = asyncio.create_task(opt_out())
        await asyncio.sleep(0.5)  # it waits on the opt-out row (before: holding its call)
        running = asyncio.create_task(run_other())
        await asyncio.sleep(0.5)  # it waits on a call (before: holding the first one)
        await tx.rollback()
    finally:
        await pool.release(replay)
    done = await asyncio.wait_for(asyncio.gather(opting_out, running, return_exceptions=True), 20)
    assert not any(isinstance(d, BaseException) for d in done), done
    return done[1]


async def statuses(pool: asyncpg.Pool, *task_ids: str) -> list[tuple[str, str]]:
    rows = await pool.fetch(
        "SELECT patient_id, status FROM follow_up_tasks WHERE task_id = ANY($1::text[])"
        " ORDER BY task_id",
        list(task_ids),
    )
    return [(r["patient_id"], r["status"]) for r in rows]


async def test_an_opt_out_as_the_patients_caller_is_made_inactive_neither_deadlocks(
    pool: asyncpg.Pool,
) -> None:
    """The hand-back waits for the opt-out, and finds nothing left to hand back."""
    patient, first, second = await two_calls(pool)

    async def hand_back(conn: asyncpg.Connection) -> int:
        return await handback.hand_back_open_calls(
            conn, AGENT.staff_id or "", roster_event_id=uuid.uuid4().hex, time=datetime.now(UTC)
        )

    handed = await opt_out_meeting(pool, patient, second, hand_back)
    assert handed == 0
    assert await statuses(pool, first, second) == [(patient, "withdrawn"), (patient, "completed")]


async def test_an_opt_out_as_the_patient_is_merged_neither_deadlocks(pool: asyncpg.Pool) -> None:
    """The merge waits for the opt-out, then moves the calls and the opt-out to the survivor."""
    patient, first, second = await two_calls(pool)
    survivor = patient + "-S"

    async def merge(conn: asyncpg.Connection) -> object:
        return await apply_merge(
            conn, merged=patient, surviving=survivor, event_id=uuid.uuid4().hex,
            merged_at=datetime.now(UTC), moves=PATIENT_MOVES,
        )  # fmt: skip

    await opt_out_meeting(pool, patient, second, merge)
    assert await statuses(pool, first, second) == [
        (survivor, "withdrawn"), (survivor, "completed"),
    ]  # fmt: skip
    opted = await pool.fetchval(
        "SELECT patient_id FROM call_opt_outs WHERE patient_id = $1", survivor
    )
    assert opted == survivor
