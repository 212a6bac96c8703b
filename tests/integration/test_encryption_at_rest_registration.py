"""Encryption at rest on the real stack (registration service): a visit's stored record (an
admission's, then its discharge's: the diagnosis, the doctor, the patient's details) is
unreadable in a raw `pg_dump` of `visits`; the ledger reads it back (an A03 without PV1-44
takes the admission time of its sealed A01), an A08 changes the patient in a sealed record,
the patient page and the search answer it; a record written before encryption is read as
it is and sealed by the background re-seal job."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from hospital_shared import topics
from hospital_shared.field_crypto import open_
from tests.integration.services import RunningService, running
from tests.integration.test_registration_ingest import ack_code, mllp, wait_published
from tests.integration.test_registration_patients import visits_dump
from tests.kafka_tools import eventually
from tests.registration.messages import adt

RUN = uuid.uuid4().hex[:8].upper()
N = uuid.uuid4().int % 10**8
PATIENT, ADMISSION = f"PSE{RUN}", f"ASE{RUN}"
DIAGNOSIS = f"二型糖尿病伴周围神经病变{RUN}"
FAMILY, GIVEN = "孙", f"学{RUN}"  # the name an A08 gives the patient
PHONE = f"135{N:08d}"  # the number an A08 gives the patient
ADMIN = {"Authorization": "Bearer dev-admin-token"}  # operations: the phone unmasked


@pytest.fixture(scope="module")
def registration(stack_config, stack_env) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    env = {"DATA_RESEAL_INTERVAL_S": "0.5"}
    with running(stack_config, "registration", env) as service:
        yield service


@pytest.fixture(scope="module")
async def discharged(registration: RunningService, stack_config, stack_env) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """An admission (A01), its patient's new name and number (A08), then its discharge with
    a diagnosis (A03, PV1-44 left out: completed from the stored admission)."""
    ids = {"patient_id": PATIENT, "visit_id": ADMISSION, "patient_class": "I"}
    new = {"family": FAMILY, "given": GIVEN, "phone": PHONE}
    acks = await mllp(
        stack_config.mllp_port,
        adt("A01", f"SE-A01-{RUN}", **ids, pv1_extra={44: "20261118080000"}),
        adt("A08", f"SE-A08-{RUN}", **ids, **new),
        adt("A03", f"SE-A03-{RUN}", **ids, **new, pv1_extra={45: "20261123100000", 36: "01"},
            segments=(f"DG1|1||E11.9^{DIAGNOSIS}^I10",)),
    )  # fmt: skip
    assert [ack_code(a) for a in acks] == ["AA", "AA", "AA"]
    [(_, event)] = await wait_published(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.DISCHARGES, 1, admission_id=ADMISSION
    )
    return dict(event["data"])


async def stored(db: asyncpg.Connection, column: str = "record") -> Any:
    """A column of the admission's row as stored (a jsonb `record` comes as its text)."""
    return await db.fetchval(
        f"SELECT {column} FROM registration.visits WHERE kind = 'admission' AND visit_id = $1",
        ADMISSION,
    )


async def patient_page(service: RunningService) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as api:
        resp = await api.get(f"/v1/patients/{PATIENT}/visits", headers=ADMIN)
        assert resp.status_code == 200, resp.text
        found = await api.get("/v1/patients", params={"name": GIVEN}, headers=ADMIN)
        assert found.status_code == 200, found.text
    page = resp.json()
    assert [p["patient_id"] for p in found.json()["items"]] == [PATIENT]  # by the given name
    [visit] = page["items"]
    return {
        "patient": page["patient"],
        "visit": {k: visit[k] for k in ("kind", "visit_id", "status", "disposition")},
        "discharged_at": visit["discharged_at"],
    }


EXPECTED = {
    "patient": {"patient_id": PATIENT, "name": FAMILY + GIVEN, "phone": f"+86{PHONE}"},
    "visit": {"kind": "admission", "visit_id": ADMISSION, "status": "discharged",
              "disposition": "home"},
    "discharged_at": "2026-11-23T02:00:00Z",
}  # fmt: skip


async def test_a_visit_record_is_unreadable_in_a_raw_dump_and_read_back_by_the_service(
    registration, discharged, stack_env, raw_db
) -> None:  # type: ignore[no-untyped-def]
    # the A03 without PV1-44 was completed from the sealed A01; its diagnosis went out
    assert discharged["admitted_at"].startswith("2026-11-18T08:00:00")
    assert (discharged["diagnosis"], discharged["patient"]["name"]) == (DIAGNOSIS, FAMILY + GIVEN)
    assert (await stored(raw_db)).startswith("enc1:dev1:")
    name = await stored(raw_db, "patient_name")
    assert name == FAMILY + GIVEN  # kept readable for the search (for now)
    dump = await visits_dump(stack_env)
    assert ADMISSION in dump
    assert DIAGNOSIS not in dump and "E11.9" not in dump and PHONE not in dump
    assert await patient_page(registration) == EXPECTED


async def test_a_record_from_before_encryption_is_read_and_sealed_by_the_reseal_job(
    registration, discharged, raw_db
) -> None:  # type: ignore[no-untyped-def]
    clear = open_(await stored(raw_db))
    assert clear is not None and DIAGNOSIS in clear
    await raw_db.execute(
        "UPDATE registration.visits SET record = $2 WHERE kind = 'admission' AND visit_id = $1",
        ADMISSION,
        json.dumps(json.loads(clear), ensure_ascii=False),  # as migration 370 left a row
    )
    assert await patient_page(registration) == EXPECTED  # most likely before the job's pass

    async def sealed() -> bool:
        return bool((await stored(raw_db)).startswith("enc1:dev1:"))

    assert await eventually(sealed, timeout=30, interval=0.3)
    assert json.loads(open_(await stored(raw_db)) or "") == json.loads(clear)
    assert await patient_page(registration) == EXPECTED
