"""Opt-outs made after a backup survive the restore from it (`notifications.optout_events`).

They come over HTTP (staff) and in patients' replies through Kannel (MO), not from Kafka:
a restore used to lose those made after the backup, and the patient was texted again. Now
each is published and read back, so the restore's replay writes them again: the patient's
next SMS is suppressed as opted out. A withdrawal (a reply 订阅 after 退订) is replayed after
its opt-out, and that patient is texted."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

import devstack
from devstack import backup
from hospital_shared import topics
from tests.chaos.restore import forget_restores, restore_once_groups_empty
from tests.integration.services import RunningService, running
from tests.integration.test_notifications_sms import (
    BASE_ENV,
    discharge_event,
    messages,
    phone_for,
    send_events,
    sms_received,
    unique,
    with_status,
)
from tests.kafka_tools import eventually

pytestmark = pytest.mark.stack


async def _opt_outs(service: RunningService, env: dict[str, str], **params: str) -> list[Any]:
    async with httpx.AsyncClient(base_url=service.url, timeout=5) as client:
        resp = await client.get(
            "/v1/opt-outs", params=params,
            headers={"Authorization": f"Bearer {env['TOKEN_SUPERVISOR']}"},
        )  # fmt: skip
    resp.raise_for_status()
    return resp.json()["items"]  # type: ignore[no-any-return]


async def _outbox_drained(env: dict[str, str]) -> bool:
    conn = await asyncpg.connect(env["DATABASE_URL"])
    try:
        waiting = await conn.fetchval(
            "SELECT count(*) FROM notifications.outbox WHERE published_at IS NULL"
        )
    finally:
        await conn.close()
    return waiting == 0


async def _opt_out_after_the_backup(
    service: RunningService, env: dict[str, str], config: Any, patients: dict[str, int]
) -> None:
    """A staff opt-out over HTTP; a patient's 退订 through Kannel; another's 退订 then 订阅."""
    async with httpx.AsyncClient(base_url=service.url, timeout=5) as client:
        resp = await client.post(
            "/v1/opt-outs", json={"patient_id": f"P{patients['staff']:06d}", "reason": "asked"},
            headers={"Authorization": f"Bearer {env['TOKEN_AGENT']}"},
        )  # fmt: skip
    assert resp.status_code == 201, resp.text
    for who, words in (("reply", ["退订"]), ("back", ["退订", "订阅"])):
        phone = phone_for(patients[who])
        for word in words:
            devstack.inject_mo(config, phone, "95000", word, ucs2=True)
            await eventually(lambda p=phone: _opt_outs(service, env, phone=p), timeout=30)
            await asyncio.sleep(1)  # the replies in the order they were sent
    back = phone_for(patients["back"])
    await eventually(lambda: _all_revoked(service, env, back), timeout=30)


async def _all_revoked(service: RunningService, env: dict[str, str], phone: str) -> bool:
    rows = await _opt_outs(service, env, phone=phone)
    return bool(rows) and all(r["revoked_at"] for r in rows)


async def _status(service: RunningService, env: dict[str, str], n: int, status: str) -> Any:
    return with_status(status, await messages(service, env, f"P{n:06d}"))


@pytest.mark.timeout(600)
async def test_opt_outs_made_after_a_backup_are_kept_by_its_restore(
    stack_config: Any, stack_env: dict[str, str], tmp_path: Path
) -> None:
    patients = {who: unique()[0] for who in ("staff", "reply", "back")}
    _, dept = unique()
    target = backup.Target(stack_env["DATABASE_URL"], stack_env["KAFKA_BOOTSTRAP_SERVERS"])
    try:
        with running(stack_config, "notifications", dict(BASE_ENV)) as service:
            folder = await backup.take(target, tmp_path)
            await _opt_out_after_the_backup(service, stack_env, stack_config, patients)
            await eventually(lambda: _outbox_drained(stack_env), timeout=30)
            service.stop()
            await restore_once_groups_empty(
                target, folder
            )  # the opt-outs above are not in the dump
            service.start()
            service.wait_ready()
            events = [discharge_event(n, dept) for n in patients.values()]
            await send_events(stack_env, topics.DISCHARGES, *events)
            for who in ("staff", "reply"):
                (msg,) = await eventually(
                    lambda w=who: _status(service, stack_env, patients[w], "suppressed"),
                    timeout=60,
                )
                assert msg["status_reason"] == "opted_out"
            await eventually(
                lambda: _status(service, stack_env, patients["back"], "delivered"), timeout=60
            )
            assert len(sms_received(stack_config, dept)) == 1  # the one opted in again
            staff_rows = await _opt_outs(service, stack_env, patient_id=f"P{patients['staff']:06d}")
            assert [(r["source"], r["reason"]) for r in staff_rows] == [("api", "asked")]
    finally:
        await forget_restores(stack_env)
