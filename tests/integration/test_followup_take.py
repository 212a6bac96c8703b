"""Taking a call from the department's unassigned ones (the console's worklist), and an
outcome that says why the call reached no one and when to call back, on the real follow-up
service, Kafka and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from hospital_shared import topics
from hospital_shared.auth import DEV_TOKENS
from tests.factories import discharge
from tests.integration.services import running
from tests.integration.test_followup_service import auth, send, wait_events
from tests.kafka_tools import eventually

RUN = uuid.uuid4().hex[:6].upper()
DEPT = f"K{RUN}"
DOC, OTHER = f"KD-{RUN}", f"KO-{RUN}"
TOKENS = {
    **{token: p.model_dump(mode="json") for token, p in DEV_TOKENS.items()},
    "t-doc": {"role": "doctor", "staff_id": DOC, "department": DEPT},
    "t-other": {"role": "doctor", "staff_id": OTHER, "department": DEPT},
    "t-agent": {"role": "agent", "staff_id": f"KA-{RUN}", "department": "CS"},
    "t-left": {"role": "doctor", "staff_id": f"KL-{RUN}", "department": DEPT},
    "t-sup-left": {"role": "supervisor", "staff_id": f"KS-{RUN}", "department": DEPT},
}
# Nobody of DEPT has room and its calls do not fall back to the CS centre: they wait, planned.
SERVICE_ENV = {
    "AUTH_TOKENS": json.dumps(TOKENS),
    "FOLLOWUP_ASSIGN_INTERVAL_S": "0.3",
    "FOLLOWUP_DEPARTMENT_POLICIES": json.dumps({DEPT: {"fallback_department": DEPT}}),
}


@pytest.fixture(scope="module")
async def api(stack_config, stack_env) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    """The follow-up service with DEPT's two doctors on its roster, neither with room."""
    with running(stack_config, "followup", SERVICE_ENV) as service:
        async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
            for staff_id in (DOC, OTHER):
                body = {"name": f"测试 {staff_id}", "department_code": DEPT, "role": "doctor",
                        "capacity": 0, "phone": "13700000000"}  # fmt: skip
                admin = auth("dev-admin-token")
                resp = await client.put(f"/v1/staff/{staff_id}", json=body, headers=admin)
                assert resp.status_code == 200, resp.text
            yield client


async def planned_task(api: httpx.AsyncClient, stack_env: dict[str, str]) -> dict[str, Any]:
    """A discharge of DEPT sent through Kafka, until its call is listed as available."""
    n = uuid.uuid4().int % 10**8
    event = discharge(n, department={"code": DEPT, "name": "测试科"})
    await send(stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.DISCHARGES, event)
    patient_id = event["data"]["patient"]["patient_id"]

    async def listed() -> dict[str, Any] | None:
        resp = await api.get("/v1/worklist/available", headers=auth("t-doc"))
        assert resp.status_code == 200, resp.text
        mine = [t for t in resp.json()["items"] if t["patient"]["patient_id"] == patient_id]
        return mine[0] if mine else None

    found: dict[str, Any] = await eventually(listed, timeout=30, interval=0.3)
    return found


async def test_a_doctor_takes_an_unassigned_call_and_a_colleague_then_cannot(
    api: httpx.AsyncClient, stack_env: dict[str, str]
) -> None:
    task = await planned_task(api, stack_env)
    assert task["status"] == "planned" and task["assignee_id"] is None
    taken = await api.post(f"/v1/tasks/{task['task_id']}/take", headers=auth("t-doc"))
    assert taken.status_code == 200, taken.text
    assert (taken.json()["status"], taken.json()["assignee_id"]) == ("assigned", DOC)
    again = await api.post(f"/v1/tasks/{task['task_id']}/take", headers=auth("t-other"))
    assert again.status_code == 409 and DOC in again.json()["detail"]
    [event] = await wait_events(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"], task["task_id"], "followup.task_assigned"
    )
    assert event["data"]["assignee_id"] == DOC and event["data"]["assigned_by"] == DOC
    worklist = (await api.get("/v1/worklist", headers=auth("t-doc"))).json()
    listed = [
        t["task_id"] for group in ("overdue", "due_today", "upcoming") for t in worklist[group]
    ]
    assert task["task_id"] in listed
    db = await asyncpg.connect(stack_env["DATABASE_URL"])
    try:
        records = await db.fetch(
            "SELECT route, staff_id FROM followup.access_records WHERE $1 = ANY(record_ids)",
            task["task_id"],
        )
    finally:
        await db.close()
    routes = {(r["route"], r["staff_id"]) for r in records}
    assert {("/v1/worklist/available", DOC), ("/v1/tasks/{task_id}/take", DOC)} <= routes


async def test_a_call_of_another_department_or_role_cannot_be_taken(
    api: httpx.AsyncClient, stack_env: dict[str, str]
) -> None:
    task = await planned_task(api, stack_env)
    other_dept = await api.post(f"/v1/tasks/{task['task_id']}/take", headers=auth("t-agent"))
    assert other_dept.status_code == 404


async def test_a_member_made_inactive_takes_no_call(
    api: httpx.AsyncClient, stack_env: dict[str, str]
) -> None:
    """Their console session may outlive the deactivation: the take is refused, the call stays
    to be assigned."""
    body = {"name": "测试 离职", "department_code": DEPT, "role": "doctor", "capacity": 0,
            "phone": "13700000000", "active": False}  # fmt: skip
    left = await api.put(f"/v1/staff/KL-{RUN}", json=body, headers=auth("dev-admin-token"))
    assert left.status_code == 200, left.text
    task = await planned_task(api, stack_env)
    refused = await api.post(f"/v1/tasks/{task['task_id']}/take", headers=auth("t-left"))
    assert refused.status_code == 403 and "inactive" in refused.text, refused.text
    available = (await api.get("/v1/worklist/available", headers=auth("t-doc"))).json()
    assert task["task_id"] in [t["task_id"] for t in available["items"]]  # still to be taken


async def test_a_supervisor_made_inactive_records_no_outcome_and_assigns_no_call(
    api: httpx.AsyncClient, stack_env: dict[str, str]
) -> None:
    """A supervisor's department-wide powers end with the roster: their console session may
    outlive the deactivation, and their outcome must not close a colleague's call."""
    body = {"name": "测试 护士长", "department_code": DEPT, "role": "supervisor", "capacity": 0,
            "phone": "13700000000", "active": False}  # fmt: skip
    left = await api.put(f"/v1/staff/KS-{RUN}", json=body, headers=auth("dev-admin-token"))
    assert left.status_code == 200, left.text
    task = await planned_task(api, stack_env)
    task_url = f"/v1/tasks/{task['task_id']}"
    assert (await api.post(f"{task_url}/take", headers=auth("t-doc"))).status_code == 200
    outcome = {"reached": True, "satisfaction": "satisfied", "attempt": 1}
    refused = await api.post(f"{task_url}/outcome", json=outcome, headers=auth("t-sup-left"))
    assert refused.status_code == 403 and "inactive" in refused.text, refused.text
    for route, move in (("assignment", {"assignee_id": OTHER}), ("reassign", {"staff_id": OTHER})):
        moved = await api.post(f"{task_url}/{route}", json=move, headers=auth("t-sup-left"))
        assert moved.status_code == 403 and "inactive" in moved.text, moved.text
    after = (await api.get(task_url, headers=auth("t-doc"))).json()
    assert (after["status"], after["assignee_id"], after["attempts_made"]) == ("assigned", DOC, 0)


async def test_a_requested_callback_is_recorded_with_its_reason_and_opens_the_next_window(
    api: httpx.AsyncClient, stack_env: dict[str, str]
) -> None:
    task = await planned_task(api, stack_env)
    assert (
        await api.post(f"/v1/tasks/{task['task_id']}/take", headers=auth("t-doc"))
    ).status_code == 200
    at = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    body = {
        "reached": False,
        "not_reached_reason": "callback_requested",
        "callback_at": at.isoformat(),
    }
    resp = await api.post(f"/v1/tasks/{task['task_id']}/outcome", json=body, headers=auth("t-doc"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "assigned"
    assert datetime.fromisoformat(resp.json()["next_attempt_at"]) >= at
    detail = (await api.get(f"/v1/tasks/{task['task_id']}", headers=auth("t-doc"))).json()
    [attempt] = detail["attempts"]
    assert attempt["not_reached_reason"] == "callback_requested"
    assert datetime.fromisoformat(attempt["callback_at"]) == at
    bad = await api.post(
        f"/v1/tasks/{task['task_id']}/outcome",
        json={"reached": False, "not_reached_reason": "asleep"},
        headers=auth("t-doc"),
    )
    assert bad.status_code == 422 and "not_reached_reason" in bad.text


async def test_a_callback_years_ahead_or_without_its_time_zone_is_refused_naming_the_field(
    api: httpx.AsyncClient, stack_env: dict[str, str]
) -> None:
    """A mistyped year (2099) took the call off every worklist, never overdue; a time without
    its zone was a 500. Both are 422s naming `callback_at`, and the call stays as it was."""
    task = await planned_task(api, stack_env)
    task_url = f"/v1/tasks/{task['task_id']}"
    assert (await api.post(f"{task_url}/take", headers=auth("t-doc"))).status_code == 200
    asked = {"reached": False, "not_reached_reason": "callback_requested", "attempt": 1}
    far = (datetime.now(UTC) + timedelta(days=91)).isoformat()
    for at, why in (("2099-12-09T10:00:00Z", "at most 90 days ahead"),
                    (far, "at most 90 days ahead"), ("2026-12-09T10:00:00", "timezone_aware")):  # fmt: skip
        refused = await api.post(
            f"{task_url}/outcome", json=asked | {"callback_at": at}, headers=auth("t-doc")
        )
        assert refused.status_code == 422, (at, refused.text)
        [error] = refused.json()["errors"]
        assert error["location"] == ["body", "callback_at"], (at, refused.text)
        assert why in f"{error['message']} {error['type']}", (at, refused.text)
    after = (await api.get(task_url, headers=auth("t-doc"))).json()
    assert (after["status"], after["attempts_made"]) == ("assigned", 0)
    near = (datetime.now(UTC) + timedelta(days=89)).isoformat()
    kept = await api.post(
        f"{task_url}/outcome", json=asked | {"callback_at": near}, headers=auth("t-doc")
    )
    assert kept.status_code == 200 and kept.json()["status"] == "assigned", kept.text
