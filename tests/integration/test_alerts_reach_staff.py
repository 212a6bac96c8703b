"""Prometheus alerts reach people (issue 20): on the real stack, Prometheus fires
`ServiceDown` for a service that stopped, Alertmanager (Debian's prometheus-alertmanager,
started by devstack) routes it to the notifications service's webhook receiver, and it
becomes a staff message to the on-duty supervisor of the alert department."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from hospital_shared import topics
from hospital_shared.codec import encode
from hospital_shared.events import make_event
from hospital_shared.service_events.followup import StaffMemberSaved, StaffRole
from tests.integration.services import RunningService, running
from tests.kafka_tools import eventually, publish


@pytest.fixture(scope="module")
def department() -> str:
    return f"AL{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def notifications(stack_config, department) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    env = {
        "NOTIFICATIONS_ALERT_DEPARTMENT": department,
        "NOTIFICATIONS_DISPATCH_INTERVAL_S": "0.2",
    }
    with running(stack_config, "notifications", env) as service:
        yield service


async def prometheus_query(stack_env: dict[str, str], expr: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=stack_env["PROMETHEUS_URL"], timeout=5) as client:
        body = (await client.get("/api/v1/query", params={"query": expr})).json()
    return body["data"]["result"]  # type: ignore[no-any-return]


async def notes_of(service: RunningService, stack_env: dict[str, str], staff_id: str) -> Any:
    headers = {"Authorization": f"Bearer {stack_env['TOKEN_SUPERVISOR']}"}
    async with httpx.AsyncClient(base_url=service.url, timeout=5) as client:
        resp = await client.get("/v1/messages", params={"staff_id": staff_id}, headers=headers)
    resp.raise_for_status()
    return resp.json()["items"]


async def test_a_service_down_alert_reaches_the_on_duty_supervisor_through_alertmanager(
    stack_config, stack_env, notifications, department
) -> None:  # type: ignore[no-untyped-def]
    sup = f"S-SUP-{department}"
    member = StaffMemberSaved(
        staff_id=sup,
        name="值班主管",
        department_code=department,
        role=StaffRole.SUPERVISOR,
        capacity=10,
        phone="13800000099",
    )
    event = make_event(
        "staff.member_saved", member, source="urn:test", subject=sup, time=datetime.now(UTC)
    )
    await publish(stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.STAFF_ROSTER, [(sup, encode(event))])

    # The metrics service up, seen up by Prometheus (any earlier ServiceDown of it resolves),
    # then stopped: ServiceDown fires for it after its minute, a new firing of this run.
    firing = 'ALERTS{alertname="ServiceDown",job="metrics",alertstate="firing"}'
    with running(stack_config, "metrics", {}):

        async def seen_up() -> bool:
            up = await prometheus_query(stack_env, 'up{job="metrics"} == 1')
            return bool(up) and not await prometheus_query(stack_env, firing)

        await eventually(seen_up, timeout=60)
    await eventually(lambda: prometheus_query(stack_env, firing), timeout=120)

    async def alert_note() -> list[Any]:
        # this alert's note: other alerts of the shared test stack (a service another test
        # stopped) reach the same on-duty supervisor too
        return [
            m
            for m in await notes_of(notifications, stack_env, sup)
            if m["template"] == "staff_monitoring_alert"
            and "ServiceDown" in m["body"]
            and "metrics" in m["body"]
        ]

    assert await eventually(alert_note, timeout=60)


async def save_member(stack_env: dict[str, str], member: StaffMemberSaved) -> None:
    event = make_event(
        "staff.member_saved", member, source="urn:test", subject=member.staff_id,
        time=datetime.now(UTC), event_id=f"staff:{member.staff_id}:{uuid.uuid4().hex[:16]}",
    )  # fmt: skip
    await publish(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        topics.STAFF_ROSTER,
        [(member.staff_id, encode(event))],
    )


async def post_alert(service: RunningService, stack_env: dict[str, str], status: str, fp: str) -> int:  # fmt: skip
    """Alertmanager's webhook as it calls it: one operations alert, firing or resolved."""
    alert = {
        "status": status, "fingerprint": fp, "startsAt": "2026-12-07T00:40:00Z",
        "endsAt": "2026-12-07T01:10:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "labels": {"alertname": "UnusualPatientDataAccess", "severity": "warning",
                   "audience": "admin"},
        "annotations": {"summary": "一名员工短时间内查看了大量患者资料"},
    }  # fmt: skip
    headers = {"Authorization": f"Bearer {stack_env['TOKEN_INTEGRATION']}"}
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
        resp = await client.post(
            "/v1/alerts", json={"status": status, "alerts": [alert]}, headers=headers
        )
    assert resp.status_code == 200, resp.text
    return int(resp.json()["notified"])


async def test_an_operations_alert_reaches_the_rosters_admin_and_its_resolution_once(
    stack_env, notifications, department
) -> None:  # type: ignore[no-untyped-def]
    admin = StaffMemberSaved(
        staff_id=f"S-ADM-{department}", name="运营值班", department_code=department,
        role=StaffRole.ADMIN, capacity=0, email=f"ops-{department}@hospital.example",
    )  # fmt: skip
    await save_member(stack_env, admin)
    headers = {"Authorization": f"Bearer {stack_env['TOKEN_SUPERVISOR']}"}

    async def on_roster() -> bool:
        async with httpx.AsyncClient(base_url=notifications.url, timeout=5) as client:
            got = await client.get(f"/v1/staff/{admin.staff_id}/channels", headers=headers)
        return bool(got.json().get("email_on_file"))

    try:
        await eventually(on_roster, timeout=30)
        fp = uuid.uuid4().hex[:16]
        assert await post_alert(notifications, stack_env, "firing", fp) == 1
        assert await post_alert(notifications, stack_env, "resolved", fp) == 1
        assert await post_alert(notifications, stack_env, "resolved", fp) == 1  # repeated
        notes = await notes_of(notifications, stack_env, admin.staff_id)
        mine = [m for m in notes if m["subject_ref"] == f"alert:{fp}" and m["channel"] == "inbox"]
        assert sorted(m["template"] for m in mine) == [
            "staff_monitoring_alert",
            "staff_monitoring_alert_resolved",
        ]
        # a resolution whose firing told nobody here tells nobody
        assert await post_alert(notifications, stack_env, "resolved", uuid.uuid4().hex) == 1
    finally:  # the shared roster: no admin of this test left to hear other tests' alerts
        await save_member(stack_env, admin.model_copy(update={"active": False}))
