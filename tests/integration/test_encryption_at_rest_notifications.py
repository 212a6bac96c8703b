"""Encryption at rest on the real stack (notifications service): patients' phone numbers, the
numbers SMS went to, message bodies, opt-outs and SMS replies are unreadable in a raw
`pg_dump` of their tables; the service still sends through Kannel, finds a patient by the
number of a 退订 reply and lists opt-outs by phone (keyed hashes); a row from before
encryption is found by its number, then sealed and hashed by the re-seal job; after a key
rotation every record stays readable and moves to the new key, after which the old key can
go."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

import devstack
from hospital_shared import topics
from hospital_shared.field_crypto import DEV_ENCRYPTION_KEY
from tests.integration.services import RunningService, running
from tests.integration.test_notifications_sms import (
    BASE_ENV,
    phone_for,
    reminder_event,
    send_events,
    unique,
    with_status,
)
from tests.kafka_tools import eventually

RUN = uuid.uuid4().hex[:8].upper()
NEW_KEY = f"rot-{RUN}:" + base64.b64encode(uuid.uuid4().bytes * 2).decode()
ADMIN = {"Authorization": "Bearer dev-admin-token"}
SEALED = {  # table -> its sealed columns
    "patients": ("phone",),
    "opt_outs": ("phone", "reason"),
    "messages": ("body", "to_number"),
    "inbound_sms": ("phone", "text"),
}


@pytest.fixture(scope="module")
def notifications(stack_config, stack_env) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    env = {**BASE_ENV, "DATA_RESEAL_INTERVAL_S": "0.5"}
    with running(stack_config, "notifications", env) as service:
        yield service


async def get(service: RunningService, path: str, **params: str) -> Any:
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as api:
        resp = await api.get(path, params=params, headers=ADMIN)
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture(scope="module")
async def patients(notifications: RunningService, stack_env, stack_config) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """One patient whose reminder went through Kannel, one who answered 退订 to theirs."""
    (n, dept), (m, other) = unique(), unique()
    await send_events(stack_env, topics.REGISTRATIONS, reminder_event(n, dept))
    await send_events(stack_env, topics.REGISTRATIONS, reminder_event(m, other, hours_ahead=72))

    async def with_one(patient: int, status: str) -> list[dict[str, Any]]:
        return with_status(status, await reminders(notifications, patient))

    await eventually(lambda: with_one(m, "pending"), timeout=30)
    devstack.inject_mo(stack_config, phone_for(m), "95000", "退订", ucs2=True)
    await eventually(lambda: with_one(m, "suppressed"), timeout=30)  # found by its number
    (sent,) = await eventually(lambda: with_one(n, "delivered"), timeout=30)
    return {"sent": (n, dept, sent["body"]), "opted_out": (m, other)}


async def reminders(service: RunningService, patient: int) -> list[dict[str, Any]]:
    """The patient's visit reminders (the visit also plans a survey invitation by SMS link)."""
    rows = (await get(service, "/v1/messages", patient_id=f"P{patient:06d}"))["items"]
    return [r for r in rows if r["template"] == "appointment_reminder"]


async def assert_reads_back(service: RunningService, patients: dict[str, Any]) -> None:
    n, dept, body = patients["sent"]
    [msg] = await reminders(service, n)
    assert (msg["to_number"], msg["body"]) == (f"+86{phone_for(n)}", body) and dept in body
    m, _ = patients["opted_out"]
    [opt_out] = (await get(service, "/v1/opt-outs", phone=phone_for(m)))["items"]  # keyed hash
    assert (opt_out["phone"], opt_out["reason"]) == (f"+86{phone_for(m)}", "退订")
    assert "phone_hash" not in opt_out


async def left_under(db: asyncpg.Connection, kid: str) -> int:
    n = 0
    for table, columns in SEALED.items():
        where = " OR ".join(f"starts_with({c}, $1)" for c in columns)
        sql = f"SELECT count(*) FROM notifications.{table} WHERE {where}"
        n += await db.fetchval(sql, f"enc1:{kid}:")
    return n


async def test_sealed_columns_are_unreadable_in_a_raw_dump_and_the_service_reads_and_searches_them(
    notifications, patients, stack_env, raw_db
) -> None:  # type: ignore[no-untyped-def]
    tables = [f"--table=notifications.{t}" for t in SEALED]
    dump = (await asyncio.to_thread(
        subprocess.run,
        ["/usr/lib/postgresql/15/bin/pg_dump", "--data-only", *tables, stack_env["DATABASE_URL"]],
        capture_output=True, text=True, check=True,
    )).stdout  # fmt: skip
    (n, dept, body), (m, other) = patients["sent"], patients["opted_out"]
    assert f"P{n:06d}" in dump and f"P{m:06d}" in dump
    for secret in (phone_for(n), phone_for(m), dept, other, body, "退订"):
        assert secret not in dump
    assert await left_under(raw_db, "dev1") > 0
    await assert_reads_back(notifications, patients)


async def test_an_opt_out_from_before_encryption_is_found_by_its_number_then_sealed(
    notifications, patients, raw_db
) -> None:  # type: ignore[no-untyped-def]
    m, _ = patients["opted_out"]
    plain = f"+86{phone_for(m)}"
    opt_out_id = await raw_db.fetchval(
        "UPDATE notifications.opt_outs SET phone = $1, reason = '退订', phone_hash = NULL"
        " WHERE patient_id IS NULL AND revoked_at IS NULL AND phone_hash = ("
        "  SELECT phone_hash FROM notifications.patients WHERE patient_id = $2) RETURNING id",
        plain,
        f"P{m:06d}",
    )
    assert opt_out_id is not None
    await assert_reads_back(notifications, patients)  # found by the plaintext meanwhile

    async def sealed_and_hashed() -> bool:
        row = await raw_db.fetchrow(
            "SELECT phone, phone_hash FROM notifications.opt_outs WHERE id = $1", opt_out_id
        )
        return row["phone"].startswith("enc1:dev1:") and row["phone_hash"] is not None

    assert await eventually(sealed_and_hashed, timeout=30, interval=0.3)
    await assert_reads_back(notifications, patients)


async def test_a_key_rotation_keeps_every_record_readable_and_moves_them_to_the_new_key(
    notifications, patients, raw_db
) -> None:  # type: ignore[no-untyped-def]
    kid = NEW_KEY.split(":")[0]
    notifications.stop()
    notifications.start(
        DATA_ENCRYPTION_KEY=NEW_KEY, DATA_ENCRYPTION_PREVIOUS_KEYS=DEV_ENCRYPTION_KEY
    )
    notifications.wait_ready()
    await assert_reads_back(notifications, patients)

    async def none_under(key_id: str) -> bool:
        return await left_under(raw_db, key_id) == 0

    assert await eventually(lambda: none_under("dev1"), timeout=120, interval=0.5)

    notifications.stop()  # the old key dropped: every record is under the new one
    notifications.start(DATA_ENCRYPTION_KEY=NEW_KEY)
    notifications.wait_ready()
    await assert_reads_back(notifications, patients)

    # Back to the development key the same way: later tests and services know only that one.
    notifications.stop()
    notifications.start(DATA_ENCRYPTION_PREVIOUS_KEYS=NEW_KEY)
    notifications.wait_ready()
    assert await eventually(lambda: none_under(kid), timeout=120, interval=0.5)
