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
from tests.kafka_tools import eventually

AGENT = Principal(role=Role.AGENT, staff_id="S-A1", department="CARD")


@pytest.fixture
async def pool(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    async with schema_pool(stack_env["DATABASE_URL"], "fulock", "followup", max_size=6) as p:
        yield p


async def two_calls(pool: asyncpg.Pool, *, second_written_first: bool = False) -> tuple[str, ...]:
    """A patient's two open calls, both the agent's: the patient and the calls' ids in task-id
    order. A hand-back's or a merge's UPDATE finds them in the order they were written."""
    patient = "P-" + uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    first, second = f"FU-{patient}-1", f"FU-{patient}-2"
    async with pool.acquire() as conn, conn.transaction():
        for task_id in (second, first) if second_written_first else (first, second):
            call = dataclasses.replace(planned_call(task_id, now), patient_id=patient)
            await repository.insert_planned(conn, call, source_time=now)
            await repository.reassign(conn, task_id, AGENT.staff_id or "")
    return patient, first, second


Holding = Callable[[asyncpg.Connection], Awaitable[Any]]


def opt_out_row(patient: str) -> Holding:
    """The patient's opt-out row, being written (by a replay of an opt-out)."""
    return lambda conn: repository.add_opt_out(conn, patient, by="replay", at=datetime.now(UTC))


def call_row(task_id: str) -> Holding:
    """A call's row, locked (an outcome of it being recorded)."""
    return lambda conn: repository.fetch_task(conn, task_id, for_update=True)


async def opt_out_meeting(
    pool: asyncpg.Pool,
    task_id: str,
    other: Callable[[asyncpg.Connection], Awaitable[Any]],
    *,
    holding: Holding,
) -> Any:
    """The patient opts out on `task_id`'s call while `other` runs on the patient's calls, in
    an interleaving that deadlocked: a third transaction `holding` a row the outcome waits on;
    `other` starts meanwhile and waits too; then that transaction ends and both go on. What
    `other` answered."""

    pids: dict[str, int] = {}

    async def opt_out() -> None:
        async with pool.acquire() as conn, conn.transaction():
            pids["outcome"] = conn.get_server_pid()
            await calls.record_outcome(
                conn, task_id=task_id, principal=AGENT, book=PolicyBook(), tz=SH,
                outcome=CallOutcome(reached=True, opt_out=True), now=datetime.now(UTC),
            )  # fmt: skip

    async def run_other() -> Any:
        async with pool.acquire() as conn, conn.transaction():
            pids["other"] = conn.get_server_pid()
            return await other(conn)

    third = await pool.acquire()
    try:
        tx = third.transaction()
        await tx.start()
        await holding(third)
        opting_out = asyncio.create_task(opt_out())
        await waiting_for_a_lock(third, pids, "outcome")  # on the row held
        running = asyncio.create_task(run_other())
        await waiting_for_a_lock(third, pids, "other")  # on a call (the outcome's, or the held)
        await tx.rollback()
    finally:
        await pool.release(third)
    done = await asyncio.wait_for(asyncio.gather(opting_out, running, return_exceptions=True), 20)
    assert not any(isinstance(d, BaseException) for d in done), done
    return done[1]


async def waiting_for_a_lock(conn: asyncpg.Connection, pids: dict[str, int], who: str) -> None:
    """Once `who`'s transaction waits for a lock: the interleaving is reached (a fixed sleep
    could let the test pass before it was, on a busy machine)."""

    async def waits() -> bool:
        pid = pids.get(who)
        return pid is not None and bool(
            await conn.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted AND pid = $1", pid)
        )

    assert await eventually(waits, timeout=20, interval=0.05), f"{who} never waited for a lock"


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
    """The outcome had its call and waited on the patient's opt-out row (a replay writing it);
    the hand-back took the first call and waited for the outcome's; the outcome went on to
    withdraw the first. Now the outcome takes the first call before its own, the hand-back
    waits for it and finds nothing left to hand back."""
    patient, first, second = await two_calls(pool)
    handed = await opt_out_meeting(pool, second, hand_back, holding=opt_out_row(patient))
    assert handed == 0
    assert await statuses(pool, first, second) == [(patient, "withdrawn"), (patient, "completed")]


async def test_an_opt_out_as_the_patient_is_merged_neither_deadlocks(pool: asyncpg.Pool) -> None:
    """The same with a merge of the patient: it waits for the opt-out, then moves the calls and
    the opt-out to the survivor."""
    patient, first, second = await two_calls(pool)
    survivor = patient + "-S"
    await opt_out_meeting(pool, second, merging(patient, survivor), holding=opt_out_row(patient))
    assert await statuses(pool, first, second) == [
        (survivor, "withdrawn"), (survivor, "completed"),
    ]  # fmt: skip
    opted = await pool.fetchval(
        "SELECT patient_id FROM call_opt_outs WHERE patient_id = $1", survivor
    )
    assert opted == survivor


async def test_a_hand_back_takes_the_members_calls_in_task_id_order(pool: asyncpg.Pool) -> None:
    """An outcome being recorded on the first call holds it; the opt-out on the second waits
    for it (the first in its order). The hand-back's UPDATE took the second call (written
    first) and waited for the first: when the first was let go, the opt-out took it and waited
    for the second. Now the hand-back waits for the first call holding none."""
    patient, first, second = await two_calls(pool, second_written_first=True)
    handed = await opt_out_meeting(pool, second, hand_back, holding=call_row(first))
    assert handed == 0
    assert await statuses(pool, first, second) == [(patient, "withdrawn"), (patient, "completed")]


async def test_a_merge_takes_the_patients_calls_in_task_id_order(pool: asyncpg.Pool) -> None:
    """The same with a merge, whose move took the calls in the order it found them."""
    patient, first, second = await two_calls(pool, second_written_first=True)
    survivor = patient + "-S"
    await opt_out_meeting(pool, second, merging(patient, survivor), holding=call_row(first))
    assert await statuses(pool, first, second) == [
        (survivor, "withdrawn"), (survivor, "completed"),
    ]  # fmt: skip


async def hand_back(conn: asyncpg.Connection) -> int:
    """The agent made inactive: their calls handed back."""
    return await handback.hand_back_open_calls(
        conn, AGENT.staff_id or "", roster_event_id=uuid.uuid4().hex, time=datetime.now(UTC)
    )


def merging(patient: str, survivor: str) -> Callable[[asyncpg.Connection], Awaitable[Any]]:
    """`patient` merged into `survivor` (ADT^A40), with follow-up's moves."""
    return lambda conn: apply_merge(
        conn, merged=patient, surviving=survivor, event_id=uuid.uuid4().hex,
        merged_at=datetime.now(UTC), moves=PATIENT_MOVES,
    )  # fmt: skip
