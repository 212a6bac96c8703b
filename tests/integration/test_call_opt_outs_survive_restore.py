"""A call opt-out made after a backup survives the restore from it (`followup.call_opt_outs`).

A patient who says on a follow-up call "do not call me again" is never planned a call again.
The opt-out comes over HTTP (the call's outcome), not from Kafka: a restore used to lose one
made after the backup, and the patient's next discharge was planned a call. Now it is
published and read back, so the restore's replay writes it again, once, and the next
discharge plans nothing. Mirrors `test_opt_outs_survive_restore.py` (notifications' SMS
opt-outs) with the follow-up service alone. The call it was said on, open again in the
restored database, is withdrawn rather than made a second time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from devstack import backup
from hospital_shared import topics
from tests.chaos.restore import forget_restores, restore_once_groups_empty
from tests.factories import discharge, patient
from tests.integration.services import running
from tests.integration.test_followup_service import (
    ADMIN,
    consumed_up_to_here,
    in_dept,
    outcome,
    send,
    task,
    task_in,
    unique,
)
from tests.kafka_tools import eventually, json_values, read_all

pytestmark = pytest.mark.stack


async def fetch_rows(env: dict[str, str], query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(env["DATABASE_URL"])
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def _opt_outs(env: dict[str, str], patient_id: str) -> list[asyncpg.Record]:
    return await fetch_rows(
        env, "SELECT recorded_by FROM followup.call_opt_outs WHERE patient_id = $1", patient_id
    )


async def _outbox_drained(env: dict[str, str]) -> bool:
    rows = await fetch_rows(env, "SELECT 1 FROM followup.outbox WHERE published_at IS NULL LIMIT 1")
    return not rows


async def _published(bootstrap: str, patient_id: str) -> list[dict[str, Any]]:
    events = json_values(await read_all(bootstrap, topics.CALL_OPT_OUTS))
    return [e for e in events if e["data"]["patient_id"] == patient_id]


@pytest.mark.timeout(300)
async def test_a_call_opt_out_made_after_a_backup_is_kept_by_its_restore(
    stack_config: Any, stack_env: dict[str, str], tmp_path: Path
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    first, second = unique(2)
    dept, patient_id = f"O{first % 10**6:06d}", f"P{first:06d}"
    target = backup.Target(stack_env["DATABASE_URL"], bootstrap)
    try:
        with running(stack_config, "followup", {}) as service:
            async with httpx.AsyncClient(base_url=service.url, timeout=10) as api:
                await send(bootstrap, topics.DISCHARGES, in_dept(discharge(first), dept))
                called = await task_in(api, f"FU-A{first:06d}", "planned", "assigned")
                folder = await backup.take(target, tmp_path)
                resp = await outcome(api, called["task_id"], ADMIN, reached=True, opt_out=True)
                assert resp.status_code == 200, resp.text
                await eventually(lambda: _outbox_drained(stack_env), timeout=30)
                service.stop()
                await restore_once_groups_empty(target, folder)  # the opt-out is not in the dump
                service.start()
                service.wait_ready()
                rows = await eventually(lambda: _opt_outs(stack_env, patient_id), timeout=30)
                assert [r["recorded_by"] for r in rows] == ["S-ADMIN-01"]
                # the call the patient opted out on is open again in the restored database:
                # withdrawn, not called a second time
                reopened = await task_in(api, called["task_id"], "withdrawn")
                assert reopened["withdrawn_reason"] == "patient_opted_out"
                # honoured: the patient's next discharge plans no call (a marker behind it does)
                again = in_dept(discharge(second, patient=patient(first)), dept)
                await send(bootstrap, topics.DISCHARGES, again)
                await consumed_up_to_here(bootstrap, topics.DISCHARGES, patient_id)
                assert await task(api, f"FU-A{second:06d}") is None
        # once: the replay wrote it again without publishing it again
        [published] = await _published(bootstrap, patient_id)
        assert published["data"]["task_id"] == called["task_id"]
    finally:
        await forget_restores(stack_env)
