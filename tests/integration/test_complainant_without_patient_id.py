"""A complainant the hospital has no patient id for (a relative, a visitor) is recorded with
their name and phone, and the first response reaches that phone: the complaints and
notifications services as processes on the real Kafka, PostgreSQL and Kannel."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.services import RunningService, running_all
from tests.integration.test_notifications_sms import sms_received
from tests.kafka_tools import eventually

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def stack(stack_config, stack_env) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    with running_all(stack_config, ("complaints", "notifications")) as services:
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
