"""A complainant the hospital has no patient id for (a relative, a visitor) is recorded with
their name and phone, and the first response reaches that phone, whichever door the complaint
came in by: the complaints service's REST API, `complaint.submitted` on Kafka, or the
registration service's `/v1/complaints`. The registration, complaints and notifications
services as processes on the real Kafka, PostgreSQL and Kannel."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from hospital_shared import topics
from hospital_shared.field_crypto import PREFIX
from tests.factories import complaint, to_bytes
from tests.integration.services import RunningService, running_all
from tests.integration.test_notifications_sms import sms_received
from tests.kafka_tools import eventually, publish, read_all

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def stack(stack_config, stack_env) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    names = ("registration", "complaints", "notifications")
    with running_all(stack_config, names) as services:
        yield services


async def test_a_relative_without_a_patient_id_is_recorded_and_acknowledged_by_sms(
    stack: dict[str, RunningService],
    stack_config,
    stack_env,  # type: ignore[no-untyped-def]
) -> None:
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    body = {
        "channel": "phone",
        "description": "我是患者家属，缴费窗口多收了费用",
        "category": "billing",
        "patient": {"name": "陈静", "phone": phone},
        "department": {"code": "CS", "name": "客服中心"},
    }
    auth = {"Authorization": f"Bearer {stack_env['TOKEN_SUPERVISOR']}"}
    async with httpx.AsyncClient(base_url=stack["complaints"].url, timeout=10) as client:
        opened = await client.post("/v1/cases", json=body, headers=auth)
        assert opened.status_code == 201, opened.text
        number = opened.json()["case_number"]
        case = (await client.get(f"/v1/cases/{number}", headers=auth)).json()
        nobody = await client.post(
            "/v1/cases", json=body | {"patient": {}, "external_id": "x"}, headers=auth
        )
    assert case["patient"]["patient_id"] is None
    assert (case["patient"]["name"], case["patient"]["phone"]) == ("陈静", f"+86{phone}")
    assert nobody.status_code == 422 and "patient" in nobody.text

    # the acknowledgement with the case number, to that phone (the operator's log may hold
    # another run's case of the same number, to another phone)
    received = await eventually(
        lambda: [to for to, _ in sms_received(stack_config, number) if to.endswith(phone)],
        timeout=40,
    )
    assert received == [f"+86{phone}"]


def relatives_complaint() -> tuple[str, dict[str, Any]]:
    """(their phone, a complaint's data naming them by name and phone, no patient id)."""
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    data = complaint(
        f"HIS-REL-{uuid.uuid4().hex[:10]}",
        channel="phone",
        patient={"name": "陈静", "phone": phone},
        department={"code": "CS", "name": "客服中心"},
        description="我是患者家属，缴费窗口多收了费用",
        # now: one lodged weeks ago is past its 24-hour response, its acknowledgement unsent
        submitted_at=datetime.now(UTC).isoformat(),
    )["data"]
    return phone, data


async def recorded_and_acknowledged(
    stack: dict[str, RunningService], stack_config: Any, stack_env: dict[str, str],
    external_id: str, phone: str,
) -> None:  # fmt: skip
    """The complaints service opened a case for `external_id` naming the relative (the phone
    sealed at rest), and its acknowledgement reached their phone."""
    number = await eventually(lambda: case_number_of(stack_env, external_id), timeout=40)
    auth = {"Authorization": f"Bearer {stack_env['TOKEN_SUPERVISOR']}"}
    async with httpx.AsyncClient(base_url=stack["complaints"].url, timeout=10) as client:
        case = (await client.get(f"/v1/cases/{number}", headers=auth)).json()
    assert case["patient"]["patient_id"] is None
    assert (case["patient"]["name"], case["patient"]["phone"]) == ("陈静", f"+86{phone}")
    received = await eventually(
        lambda: [to for to, _ in sms_received(stack_config, number) if to.endswith(phone)],
        timeout=40,
    )
    assert received == [f"+86{phone}"]


async def case_number_of(stack_env: dict[str, str], external_id: str) -> str | None:
    """The number of the case opened for `external_id`; its phone, when it has one, must be
    stored sealed, as every patient's is."""
    conn = await asyncpg.connect(stack_env["DATABASE_URL"])
    try:
        row = await conn.fetchrow(
            "SELECT case_number, patient_phone FROM complaints.cases WHERE external_id = $1",
            external_id,
        )
    finally:
        await conn.close()
    if row is None:
        return None
    assert row["patient_phone"] is None or row["patient_phone"].startswith(PREFIX)
    return str(row["case_number"])


async def on_kafka(stack: dict[str, RunningService], stack_env: Any, data: Any) -> None:
    """`complaint.submitted` straight onto the topic, keyed by the complaint's own id."""
    event = {**complaint(data["external_id"]), "data": data}
    await publish(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.COMPLAINTS_IN,
        [(data["external_id"], to_bytes(event))],
    )  # fmt: skip


async def through_registration(stack: dict[str, RunningService], stack_env: Any, data: Any) -> None:
    """Registration's `/v1/complaints`: taken, and published under the complaint's own id
    with the relative's name and phone (E.164) kept."""
    auth = {"Authorization": f"Bearer {stack_env['TOKEN_INTEGRATION']}"}
    async with httpx.AsyncClient(base_url=stack["registration"].url, timeout=10) as client:
        taken = await client.post("/v1/complaints", json=data, headers=auth)
    assert taken.status_code == 202, taken.text

    async def published() -> list[tuple[bytes, dict[str, Any]]]:
        records = await read_all(stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.COMPLAINTS_IN)
        mine = data["external_id"].encode()
        return [(r.key, json.loads(r.value)) for r in records if mine in r.value]

    [(key, sent)] = await eventually(published, timeout=30)
    assert (key, sent["subject"]) == (data["external_id"].encode(), data["external_id"])
    phone = "+86" + data["patient"]["phone"]
    assert sent["data"]["patient"] == {"name": "陈静", "phone": phone, "sms_opt_out": False}


@pytest.mark.parametrize("door", [on_kafka, through_registration])
async def test_a_relatives_complaint_from_a_hospital_system_is_recorded_and_acknowledged(
    door: Any,
    stack: dict[str, RunningService],
    stack_config,
    stack_env,  # type: ignore[no-untyped-def]
) -> None:
    phone, data = relatives_complaint()
    await door(stack, stack_env, data)
    await recorded_and_acknowledged(stack, stack_config, stack_env, data["external_id"], phone)


async def test_registrations_complaint_route_takes_a_patient_by_id_alone_as_the_event_does(
    stack: dict[str, RunningService],
    stack_env,  # type: ignore[no-untyped-def]
) -> None:
    """`POST /v1/complaints` takes what `complaint.submitted` takes: a patient by id with no
    name or phone (published under the patient, the case theirs), and refuses a complainant
    with neither an id nor a phone, naming the field and nothing of the person."""
    n = uuid.uuid4().hex[:10]
    patient_id, external_id = f"P-ID{n}", f"HIS-ID{n}"
    data = complaint(external_id, patient={"patient_id": patient_id})["data"]
    auth = {"Authorization": f"Bearer {stack_env['TOKEN_INTEGRATION']}"}
    async with httpx.AsyncClient(base_url=stack["registration"].url, timeout=10) as client:
        taken = await client.post("/v1/complaints", json=data, headers=auth)
        refused = await client.post(
            "/v1/complaints",
            json={**data, "external_id": f"HIS-NO{n}", "patient": {"name": "陈静"}},
            headers=auth,
        )
    assert taken.status_code == 202, taken.text
    assert refused.status_code == 422, refused.text
    assert [(e["location"], e["type"]) for e in refused.json()["errors"]] == [
        (["body", "patient", "phone"], "missing")
    ]
    assert "陈静" not in refused.text

    async def published() -> list[tuple[bytes, dict[str, Any]]]:
        records = await read_all(stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.COMPLAINTS_IN)
        return [(r.key, json.loads(r.value)) for r in records if external_id.encode() in r.value]

    [(key, sent)] = await eventually(published, timeout=30)
    assert key == patient_id.encode()
    assert sent["data"]["patient"] == {"patient_id": patient_id, "sms_opt_out": False}
    number = await eventually(lambda: case_number_of(stack_env, external_id), timeout=40)
    async with httpx.AsyncClient(base_url=stack["complaints"].url, timeout=10) as client:
        admin = {"Authorization": f"Bearer {stack_env['TOKEN_ADMIN']}"}
        case = (await client.get(f"/v1/cases/{number}", headers=admin)).json()
    assert case["patient"]["patient_id"] == patient_id and case["patient"]["phone"] is None
