"""Enquiries (咨询) and praise and suggestions (表扬、建议) on the real stack: the complaints
service (PostgreSQL, its outbox to Kafka) and the notifications service (Kafka in, staff SMS out
through Kannel to the fake SMSC).

Time is controlled the way the complaint time-limit tests do it: an enquiry is taken with a
`taken_at` in the past (the clock starts when the patient asked), so an on-site enquiry asked
31 minutes ago is already past its 30-minute limit; nothing waits for the clock.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from hospital_shared import topics
from hospital_shared.codec import encode
from hospital_shared.events import make_event
from hospital_shared.service_events.followup import StaffMemberSaved, StaffRole
from tests.integration.services import RunningService, running
from tests.integration.test_notifications_sms import BASE_ENV, sms_received, staff_known
from tests.kafka_tools import eventually, json_values, publish, read_all

FAST_TIMERS = {"COMPLAINTS_TIMER_INTERVAL_S": "0.2"}


@pytest.fixture(scope="module")
def complaints(stack_config, stack_env) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    with running(stack_config, "complaints", dict(FAST_TIMERS)) as service:
        yield service


@pytest.fixture(scope="module")
def notifications(stack_config, stack_env) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    with running(stack_config, "notifications", dict(BASE_ENV)) as service:
        yield service


@pytest.fixture(scope="module")
async def http(complaints: RunningService) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=complaints.url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def tokens(stack_env: dict[str, str]) -> dict[str, dict[str, str]]:
    roles = ("agent", "doctor", "supervisor", "ward_supervisor", "admin", "integration")
    return {r: {"Authorization": f"Bearer {stack_env[f'TOKEN_{r.upper()}']}"} for r in roles}


def unique() -> int:
    return uuid.uuid4().int % 10**8


async def take(http: httpx.AsyncClient, token: dict[str, str], **over: Any) -> dict[str, Any]:
    body = {
        "channel": "onsite",
        "question": "请问心内科专家门诊周几出诊？",
        "patient": {"patient_id": f"P-{unique()}", "name": "王五", "phone": "13700137000"},
        **over,
    }
    response = await http.post("/v1/enquiries", json=body, headers=token)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def events_about(bootstrap: str, subject: str, prefix: str = "") -> list[dict[str, Any]]:
    events = json_values(await read_all(bootstrap, topics.COMPLAINT_CASES))
    return [e for e in events if e.get("subject") == subject and e["type"].startswith(prefix)]


async def query(stack_env: dict[str, str], sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(
        stack_env["DATABASE_URL"], server_settings={"search_path": "complaints"}
    )
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def supervisor_on_both_rosters(stack_env: dict[str, str]) -> tuple[str, str, str]:
    """A new department with its own supervisor (with a phone), known to the complaints and the
    notifications services: (department, supervisor id, phone)."""
    n = unique()
    department, supervisor, phone = f"E{n}", f"S-SUP-E{n}", f"136{n:08d}"
    member = StaffMemberSaved(
        staff_id=supervisor,
        name="咨询主管",
        department_code=department,
        role=StaffRole.SUPERVISOR,
        capacity=10,
        phone=phone,
    )
    event = make_event(
        "staff.member_saved", member, source="urn:test", subject=supervisor, time=datetime.now(UTC)
    )
    await publish(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.STAFF_ROSTER, [(supervisor, encode(event))]
    )
    await eventually(lambda: staff_known(stack_env, supervisor), timeout=30)
    await eventually(
        lambda: query(stack_env, "SELECT count(*) FROM staff WHERE staff_id = $1", supervisor),
        timeout=30,
    )
    return department, supervisor, phone


# --- the required test: an enquiry breaching its 30-minute limit escalates once -----------------


async def test_an_enquiry_breaching_its_30_minute_limit_escalates_once(
    complaints, notifications, http, tokens, stack_env, stack_config
) -> None:  # type: ignore[no-untyped-def]
    department, supervisor, phone = await supervisor_on_both_rosters(stack_env)
    asked = (datetime.now(UTC) - timedelta(minutes=31)).isoformat()
    enquiry = await take(
        http, tokens["agent"], taken_at=asked, department={"code": department, "name": "测试科"}
    )
    number = enquiry["enquiry_number"]
    assert enquiry["supervisor_id"] == supervisor
    assert enquiry["time_limit"]["limit"] == "onsite_answer"
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]

    escalated = await eventually(
        lambda: events_about(bootstrap, number, "enquiry.time_limit_breached"), timeout=30
    )
    assert escalated[0]["data"]["supervisor_id"] == supervisor
    await eventually(lambda: sms_received(stack_config, number), timeout=30)

    # The marker: a second enquiry, taken after the first escalated, escalates too. Alerts are
    # published in commit order, and its escalation needed a timer pass after the first's: a
    # repeat of the first would be out before it. Its SMS delivered, the first's would be too.
    marker = (
        await take(
            http, tokens["agent"], taken_at=asked, department={"code": department, "name": "测试科"}
        )
    )["enquiry_number"]
    await eventually(
        lambda: events_about(bootstrap, marker, "enquiry.time_limit_breached"), timeout=30
    )
    await eventually(lambda: sms_received(stack_config, marker), timeout=30)

    alerts = await events_about(bootstrap, number, "enquiry.time_limit_")
    assert sorted(e["data"]["level"] for e in alerts) == ["breach", "warning"]
    escalations = [text for to, text in sms_received(stack_config, number) if "咨询超时" in text]
    assert len(escalations) == 1 and phone[-8:] in "".join(
        to for to, _ in sms_received(stack_config, number)
    )
    escalation_rows = "SELECT count(*) FROM enquiry_alerts a JOIN enquiries e ON e.id = a.enquiry_id WHERE e.enquiry_number = $1 AND a.level = 'breach'"
    assert await query(stack_env, escalation_rows, number) == 1
    read = await http.get(f"/v1/enquiries/{number}", headers=tokens["agent"])
    assert read.json()["time_limit"]["state"] == "breached"
    assert [h["action"] for h in read.json()["history"]] == [
        "taken",
        "time_limit_warning",
        "escalated",
    ]
