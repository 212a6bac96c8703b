"""Encryption at rest on the real stack (complaints service): a case's phone and description, an
enquiry's question and a suggestion's text are unreadable in a raw `pg_dump` of their tables;
the service reads them back through its API; a value written before encryption is sealed by
the background re-seal job; after a key rotation every record stays readable and the job
moves them all to the new key, after which the old key can go."""

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

from hospital_shared.field_crypto import DEV_ENCRYPTION_KEY
from tests.integration.services import RunningService, running
from tests.kafka_tools import eventually

RUN = uuid.uuid4().hex[:8].upper()
NEW_KEY = f"rot-{RUN}:" + base64.b64encode(uuid.uuid4().bytes * 2).decode()
DESK = {"Authorization": "Bearer dev-supervisor-token"}  # the complaint desk's supervisor
DESCRIPTION = f"护士把我父亲的化验单弄丢了 {RUN}"
QUESTION = f"我母亲的出院小结什么时候能拿到 {RUN}"
SUGGESTION = f"希望儿科候诊区多放几把椅子 {RUN}"
# table -> (number column, sealed columns)
TABLES = {
    "cases": ("case_number", ("patient_phone", "description")),
    "enquiries": ("enquiry_number", ("patient_phone", "question")),
    "feedback": ("feedback_number", ("patient_phone", "text")),
}


@pytest.fixture(scope="module")
def complaints(stack_config, stack_env) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    with running(stack_config, "complaints", {"DATA_RESEAL_INTERVAL_S": "0.5"}) as service:
        yield service


def phone_of(n: int) -> str:
    return f"136{n:08d}"


@pytest.fixture(scope="module")
async def records(complaints: RunningService) -> dict[str, Any]:
    """One case, one enquiry and one suggestion, each with its own patient phone."""
    n = uuid.uuid4().int % 10**8
    patient = {"patient_id": f"P-EN{RUN}", "name": "赵六"}
    async with httpx.AsyncClient(base_url=complaints.url, timeout=10) as api:
        case = await api.post("/v1/cases", headers=DESK, json={
            "channel": "phone", "description": DESCRIPTION,
            "patient": {**patient, "phone": phone_of(n)},
            "department": {"code": "CS", "name": "客服中心"},
        })  # fmt: skip
        enquiry = await api.post("/v1/enquiries", headers=DESK, json={
            "channel": "onsite", "question": QUESTION,
            "patient": {**patient, "phone": phone_of(n + 1)},
        })  # fmt: skip
        feedback = await api.post("/v1/feedback", headers=DESK, json={
            "kind": "suggestion", "channel": "suggestion_box", "text": SUGGESTION,
            "category": "environment", "patient": {**patient, "phone": phone_of(n + 2)},
        })  # fmt: skip
    for resp in (case, enquiry, feedback):
        assert resp.status_code == 201, resp.text
    return {
        "cases": (case.json()["case_number"], phone_of(n), DESCRIPTION),
        "enquiries": (enquiry.json()["enquiry_number"], phone_of(n + 1), QUESTION),
        "feedback": (feedback.json()["feedback_number"], phone_of(n + 2), SUGGESTION),
    }


async def read_back(service: RunningService, records: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """(phone, text) of each record as the API answers the desk that took them (unmasked)."""
    got: dict[str, tuple[Any, ...]] = {}
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as api:
        for table, (number, _, _) in records.items():
            if table == "feedback":
                resp = await api.get("/v1/feedback", headers=DESK, params={"kind": "suggestion"})
                [body] = [f for f in resp.json()["items"] if f["feedback_number"] == number]
            else:
                resp = await api.get(f"/v1/{table}/{number}", headers=DESK)
                body = resp.json()
            assert resp.status_code == 200, resp.text
            text = body.get("description") or body.get("question") or body.get("text")
            got[table] = (body["patient"]["phone"], text)
    return got


def expected(records: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    # stored as given, answered in E.164
    return {table: (f"+86{phone}", text) for table, (_, phone, text) in records.items()}


async def raw(db: asyncpg.Connection, table: str, number: str) -> asyncpg.Record:
    column, sealed = TABLES[table]
    return await db.fetchrow(
        f"SELECT {', '.join(sealed)} FROM complaints.{table} WHERE {column} = $1", number
    )


async def left_under(db: asyncpg.Connection, kid: str) -> int:
    """Values still under key `kid`, in every sealed table."""
    n = 0
    for table, (_, sealed) in TABLES.items():
        where = " OR ".join(f"starts_with({c}, $1)" for c in sealed)
        n += await db.fetchval(
            f"SELECT count(*) FROM complaints.{table} WHERE {where}", f"enc1:{kid}:"
        )
    return n


async def test_sealed_columns_are_unreadable_in_a_raw_dump_and_read_back_through_the_api(
    complaints, records, stack_env, raw_db
) -> None:  # type: ignore[no-untyped-def]
    for table, (number, _, _) in records.items():
        row = await raw(raw_db, table, number)
        assert all(value.startswith("enc1:dev1:") for value in row.values()), table
    dump = (await asyncio.to_thread(
        subprocess.run,
        ["/usr/lib/postgresql/15/bin/pg_dump", "--data-only", "--table=complaints.cases",
         "--table=complaints.enquiries", "--table=complaints.feedback", stack_env["DATABASE_URL"]],
        capture_output=True, text=True, check=True,
    )).stdout  # fmt: skip
    for table, (number, phone, text) in records.items():
        assert number in dump, table
        assert phone not in dump and text not in dump, table
    assert await read_back(complaints, records) == expected(records)


async def test_values_from_before_encryption_are_sealed_by_the_reseal_job(
    complaints, records, raw_db
) -> None:  # type: ignore[no-untyped-def]
    for table, (number, phone, text) in records.items():
        column, (phone_col, text_col) = TABLES[table]
        await raw_db.execute(
            f"UPDATE complaints.{table} SET {phone_col} = $2, {text_col} = $3 WHERE {column} = $1",
            number, phone, text,
        )  # fmt: skip

    async def all_sealed() -> bool:
        rows = [await raw(raw_db, t, number) for t, (number, _, _) in records.items()]
        return all(v.startswith("enc1:dev1:") for row in rows for v in row.values())

    assert await eventually(all_sealed, timeout=30, interval=0.3)
    assert await read_back(complaints, records) == expected(records)


async def test_a_key_rotation_keeps_every_record_readable_and_moves_them_to_the_new_key(
    complaints, records, raw_db
) -> None:  # type: ignore[no-untyped-def]
    kid = NEW_KEY.split(":")[0]
    complaints.stop()
    complaints.start(DATA_ENCRYPTION_KEY=NEW_KEY, DATA_ENCRYPTION_PREVIOUS_KEYS=DEV_ENCRYPTION_KEY)
    complaints.wait_ready()
    assert await read_back(complaints, records) == expected(records)

    async def none_under(key_id: str) -> bool:
        return await left_under(raw_db, key_id) == 0

    assert await eventually(lambda: none_under("dev1"), timeout=60, interval=0.5)
    for table, (number, _, _) in records.items():
        assert all(
            v.startswith(f"enc1:{kid}:") for v in (await raw(raw_db, table, number)).values()
        )

    complaints.stop()  # the old key dropped: every record is under the new one
    complaints.start(DATA_ENCRYPTION_KEY=NEW_KEY)
    complaints.wait_ready()
    assert await read_back(complaints, records) == expected(records)

    # Back to the development key the same way: later tests and services know only that one.
    complaints.stop()
    complaints.start(DATA_ENCRYPTION_PREVIOUS_KEYS=NEW_KEY)
    complaints.wait_ready()
    assert await eventually(lambda: none_under(kid), timeout=60, interval=0.5)
