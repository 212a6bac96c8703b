"""Encryption at rest on the real stack (follow-up service): a patient's phone, call feedback
and objection are unreadable in a raw `pg_dump` of the table; the service reads them back;
a value written before encryption is sealed by the background re-seal job; after a key
rotation every value stays readable, the job moves them all to the new key, and the old key
can then be dropped."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from hospital_shared import topics
from hospital_shared.auth import DEV_TOKENS
from hospital_shared.field_crypto import DEV_ENCRYPTION_KEY
from tests.factories import discharge, patient
from tests.integration.services import RunningService
from tests.integration.test_followup_service import send, unique
from tests.kafka_tools import eventually

RUN = uuid.uuid4().hex[:6].upper()
DEPT, DOC = f"EN{RUN}", f"END-{RUN}"
TOKENS = {
    **{token: p.model_dump(mode="json") for token, p in DEV_TOKENS.items()},
    "t-doc": {"role": "doctor", "staff_id": DOC, "department": DEPT},
}
ENV = {
    "AUTH_TOKENS": json.dumps(TOKENS),
    "FOLLOWUP_ASSIGN_INTERVAL_S": "0.3",
    "DATA_RESEAL_INTERVAL_S": "0.5",
}
NEW_KEY = f"rot-{RUN}:" + base64.b64encode(uuid.uuid4().bytes * 2).decode()
FEEDBACK, OBJECTION = f"伤口愈合慢，夜里疼 {RUN}", f"出院带药少给了一盒 {RUN}"
SEALED = ("patient_phone", "feedback", "objection")


def as_(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
async def followup(stack_config, stack_env) -> AsyncIterator[RunningService]:  # type: ignore[no-untyped-def]
    service = RunningService(stack_config, "followup", ENV).start()
    service.wait_ready()
    yield service
    service.stop()


@pytest.fixture(scope="module")
async def completed(followup: RunningService, stack_env, raw_db) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A discharged patient's call, completed with feedback and an objection."""
    async with httpx.AsyncClient(base_url=followup.url, timeout=10) as api:
        staff = {"name": "测试医生", "department_code": DEPT, "role": "doctor", "capacity": 10}
        assert (
            await api.put(f"/v1/staff/{DOC}", json=staff, headers=as_("dev-admin-token"))
        ).status_code == 200
        [n] = unique()
        phone = f"137{n % 10**8:08d}"
        event = discharge(
            n, patient=patient(n, phone=phone), department={"code": DEPT, "name": "测"}
        )
        await send(stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.DISCHARGES, event)
        task_id = f"FU-A{n:06d}"

        async def assigned() -> bool:
            resp = await api.get(f"/v1/tasks/{task_id}", headers=as_("t-doc"))
            return resp.status_code == 200

        await eventually(assigned, timeout=30, interval=0.3)
        outcome = {"reached": True, "satisfaction": "dissatisfied", "score": 2,
                   "feedback": FEEDBACK, "objection": OBJECTION}  # fmt: skip
        resp = await api.post(f"/v1/tasks/{task_id}/outcome", json=outcome, headers=as_("t-doc"))
        assert resp.status_code == 200, resp.text
    return {"task_id": task_id, "phone": phone}


async def raw(raw_db: asyncpg.Connection, task_id: str) -> asyncpg.Record:
    return await raw_db.fetchrow(
        "SELECT patient_phone, feedback, objection FROM followup.follow_up_tasks"
        " WHERE task_id = $1",
        task_id,
    )


async def read_back(service: RunningService, task_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as api:
        resp = await api.get(f"/v1/tasks/{task_id}", headers=as_("dev-admin-token"))
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def assert_reads_back(body: dict[str, Any], phone: str) -> None:
    assert body["patient"]["phone"] == f"+86{phone}"  # stored as given, answered in E.164
    assert (body["outcome"]["feedback"], body["outcome"]["objection"]) == (FEEDBACK, OBJECTION)
    assert body["attempts"][0]["feedback"] == FEEDBACK


async def test_sealed_columns_are_unreadable_in_a_raw_dump_and_read_back_by_the_service(
    followup, completed, stack_env, raw_db
) -> None:  # type: ignore[no-untyped-def]
    row = await raw(raw_db, completed["task_id"])
    assert all(row[c].startswith("enc1:dev1:") for c in SEALED)
    dump = (await asyncio.to_thread(
        subprocess.run,
        ["/usr/lib/postgresql/15/bin/pg_dump", "--data-only", "--table=followup.follow_up_tasks",
         "--table=followup.call_attempts", stack_env["DATABASE_URL"]],
        capture_output=True, text=True, check=True,
    )).stdout  # fmt: skip
    assert completed["task_id"] in dump
    for secret in (completed["phone"], FEEDBACK, OBJECTION):
        assert secret not in dump.replace(completed["task_id"], "")
    assert_reads_back(await read_back(followup, completed["task_id"]), completed["phone"])


async def test_a_value_from_before_encryption_is_sealed_by_the_reseal_job(
    followup, completed, raw_db
) -> None:  # type: ignore[no-untyped-def]
    task_id = completed["task_id"]
    await raw_db.execute(
        "UPDATE followup.follow_up_tasks SET patient_phone = $2 WHERE task_id = $1",
        task_id,
        completed["phone"],
    )

    async def sealed_again() -> bool:
        return (await raw(raw_db, task_id))["patient_phone"].startswith("enc1:dev1:")

    assert await eventually(sealed_again, timeout=30, interval=0.3)
    assert_reads_back(await read_back(followup, task_id), completed["phone"])


async def test_a_key_rotation_keeps_every_value_readable_and_moves_them_to_the_new_key(
    followup, completed, raw_db
) -> None:  # type: ignore[no-untyped-def]
    task_id, kid = completed["task_id"], NEW_KEY.split(":")[0]
    followup.stop()
    followup.start(DATA_ENCRYPTION_KEY=NEW_KEY, DATA_ENCRYPTION_PREVIOUS_KEYS=DEV_ENCRYPTION_KEY)
    followup.wait_ready()
    assert_reads_back(await read_back(followup, task_id), completed["phone"])

    async def all_moved() -> bool:
        left = await raw_db.fetchval(
            "SELECT count(*) FROM followup.follow_up_tasks WHERE left(patient_phone, 10) = 'enc1:dev1:'"
            " OR left(feedback, 10) = 'enc1:dev1:' OR left(objection, 10) = 'enc1:dev1:'"
        )
        attempts = await raw_db.fetchval(
            "SELECT count(*) FROM followup.call_attempts WHERE left(feedback, 10) = 'enc1:dev1:'"
        )
        return left == 0 and attempts == 0

    assert await eventually(all_moved, timeout=60, interval=0.5)
    row = await raw(raw_db, task_id)
    assert all(row[c].startswith(f"enc1:{kid}:") for c in SEALED)

    followup.stop()  # the old key dropped: everything is under the new one
    followup.start(DATA_ENCRYPTION_KEY=NEW_KEY)
    followup.wait_ready()
    assert_reads_back(await read_back(followup, task_id), completed["phone"])

    # And back to the development key, the same way: every later test and service on this
    # stack knows only that key, and a value under the test's key would be unreadable to them.
    followup.stop()
    followup.start(DATA_ENCRYPTION_PREVIOUS_KEYS=NEW_KEY)
    followup.wait_ready()

    async def none_left_under_the_test_key() -> bool:
        prefix = f"enc1:{kid}:"
        left = await raw_db.fetchval(
            "SELECT count(*) FROM followup.follow_up_tasks WHERE starts_with(patient_phone, $1)"
            " OR starts_with(feedback, $1) OR starts_with(objection, $1)",
            prefix,
        )
        attempts = await raw_db.fetchval(
            "SELECT count(*) FROM followup.call_attempts WHERE starts_with(feedback, $1)", prefix
        )
        return left == 0 and attempts == 0

    assert await eventually(none_left_under_the_test_key, timeout=60, interval=0.5)
