"""The notifications service's opt-out and template APIs on the real stack: an opt-out made
through the API suppresses the patient's waiting and later SMS until a supervisor revokes
it; numbers are masked except for operations; a template edit is checked before it is saved
and used by the next message; and who may make a template urgent (urgent messages skip quiet
hours and the daily cap: never a patient's, and a staff one only by an admin)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from hospital_shared import topics
from tests.integration.services import RunningService, running
from tests.integration.test_notifications_sms import (
    BASE_ENV,
    _status_of,
    discharge_event,
    reminder_event,
    send_events,
    unique,
)
from tests.kafka_tools import eventually


@pytest.fixture(scope="module")
def service(stack_config, stack_env) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    with running(stack_config, "notifications", dict(BASE_ENV)) as running_service:
        yield running_service


@pytest.fixture(scope="module")
async def api(service: RunningService) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
        yield client


def as_(stack_env: dict[str, str], role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack_env[f'TOKEN_{role.upper()}']}"}


async def message_in(
    service: RunningService, stack_env: dict[str, str], pid: str, status: str, template: str
) -> dict[str, Any]:
    async def check() -> list[dict[str, Any]]:
        return [
            r
            for r in await _status_of(service, stack_env, pid, status)
            if r["template"] == template
        ]

    [row] = await eventually(check, timeout=30)
    return row


async def test_an_api_opt_out_suppresses_waiting_and_later_sms_until_a_supervisor_revokes_it(
    service, api, stack_env
) -> None:  # type: ignore[no-untyped-def]
    n, dept = unique()
    pid = f"P{n:06d}"
    await send_events(stack_env, topics.REGISTRATIONS, reminder_event(n, dept, hours_ahead=72))
    await message_in(service, stack_env, pid, "pending", "appointment_reminder")

    body = {"patient_id": pid, "reason": "家属要求"}
    resp = await api.post("/v1/opt-outs", json=body, headers=as_(stack_env, "integration"))
    assert resp.status_code == 201, resp.text
    opt_out = resp.json()
    assert opt_out["suppressed_messages"] == 1
    reminder = await message_in(service, stack_env, pid, "suppressed", "appointment_reminder")
    assert reminder["status_reason"] == "opted_out"
    # A message planned later is stopped when its time comes.
    await send_events(stack_env, topics.DISCHARGES, discharge_event(n, dept))
    await message_in(service, stack_env, pid, "suppressed", "discharge_care_notice")

    # A patient's opt-outs are their history: supervisors and operations read them.
    refused = await api.get(
        "/v1/opt-outs", params={"patient_id": pid}, headers=as_(stack_env, "agent")
    )
    assert refused.status_code == 403
    listed = await api.get(
        "/v1/opt-outs", params={"patient_id": pid}, headers=as_(stack_env, "supervisor")
    )
    assert [o["id"] for o in listed.json()["items"]] == [opt_out["id"]]
    path = f"/v1/opt-outs/{opt_out['id']}"
    assert (await api.delete(path, headers=as_(stack_env, "agent"))).status_code == 403
    revoked = await api.delete(path, headers=as_(stack_env, "supervisor"))
    assert (revoked.status_code, revoked.json()) == (200, {"revoked": 1})
    assert (await api.delete(path, headers=as_(stack_env, "supervisor"))).status_code == 404

    again = discharge_event(n, dept, disposition="against_medical_advice", admission=f"B{n}")
    await send_events(stack_env, topics.DISCHARGES, again)
    await message_in(service, stack_env, pid, "delivered", "discharge_safety_notice")


async def test_an_opt_out_by_phone_is_shown_masked_except_to_operations(api, stack_env) -> None:  # type: ignore[no-untyped-def]
    n, _ = unique()
    phone = f"139 {n:08d}"
    e164 = f"+86139{n:08d}"
    made = await api.post("/v1/opt-outs", json={"phone": phone}, headers=as_(stack_env, "agent"))
    assert made.status_code == 201, made.text

    async def shown(role: str) -> list[str | None]:
        resp = await api.get("/v1/opt-outs", params={"phone": phone}, headers=as_(stack_env, role))
        return [o["phone"] for o in resp.json()["items"]]

    assert await shown("admin") == [e164]
    assert await shown("supervisor") == [e164[:-8] + "****" + e164[-4:]]


@pytest.mark.parametrize(
    ("body", "role", "status", "names"),
    [
        ({"phone": "12345"}, "agent", 422, "phone"),
        ({"reason": "no one named"}, "agent", 422, "patient_id or phone"),
        ({"patient_id": "P-X" * 30}, "agent", 422, "patient_id"),
        ({"patient_id": "P-X"}, None, 401, ""),
    ],
)
async def test_a_bad_opt_out_is_refused_naming_what_is_wrong(
    api, stack_env, body: dict[str, Any], role: str | None, status: int, names: str
) -> None:  # type: ignore[no-untyped-def]
    headers = as_(stack_env, role) if role else {}
    resp = await api.post("/v1/opt-outs", json=body, headers=headers)
    assert resp.status_code == status, resp.text
    assert names in resp.text


async def template(api: httpx.AsyncClient, stack_env: dict[str, str], name: str) -> dict[str, Any]:
    listed = await api.get("/v1/templates", params={"limit": 200}, headers=as_(stack_env, "agent"))
    return next(t for t in listed.json()["items"] if t["name"] == name)  # type: ignore[no-any-return]


async def test_a_list_is_read_page_by_page_by_following_next_to_its_end(api, stack_env) -> None:  # type: ignore[no-untyped-def]
    """One paging style (hospital_shared.http_api.Page): `limit` items a page, `next` the link
    to the rest, null at the end; every item once, in order. A cursor the service did not
    write is a 422 naming `cursor`, a limit past the maximum one naming `limit`."""
    headers = as_(stack_env, "agent")
    names: list[str] = []
    link: str | None = "/v1/templates?limit=5"
    while link is not None:
        page = (await api.get(link, headers=headers)).json()
        assert page["limit"] == 5 and len(page["items"]) <= 5
        names += [t["name"] for t in page["items"]]
        link = page["next"]
    whole = await api.get("/v1/templates", params={"limit": 200}, headers=headers)
    assert names == [t["name"] for t in whole.json()["items"]] == sorted(set(names))
    assert len(names) > 5 and whole.json()["next"] is None
    for params, field in (({"cursor": "not-ours"}, "cursor"), ({"limit": 201}, "limit")):
        refused = await api.get("/v1/templates", params=params, headers=headers)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["location"] == ["query", field]


async def test_a_template_edit_is_checked_saved_and_used_by_the_next_message(
    service, api, stack_env
) -> None:  # type: ignore[no-untyped-def]
    name = "discharge_safety_notice"
    listed = await template(api, stack_env, name)
    original = listed["body"]
    assert {"hospital", "department", "hotline"} <= set(listed["placeholders"])
    path = f"/v1/templates/{name}"
    edited = (
        "【{{ hospital }}】{{ department }}提醒：如有不适请及时就医（测试修改）。回复退订不再接收"
    )
    try:
        agent = await api.put(path, json={"body": edited}, headers=as_(stack_env, "agent"))
        assert agent.status_code == 403
        broken = await api.put(path, json={"body": "{{ nope"}, headers=as_(stack_env, "supervisor"))
        assert broken.status_code == 422 and "cannot be rendered" in broken.text
        unknown = await api.put(
            "/v1/templates/no_such", json={"body": "x"}, headers=as_(stack_env, "supervisor")
        )
        assert unknown.status_code == 404
        saved = await api.put(path, json={"body": edited}, headers=as_(stack_env, "supervisor"))
        assert saved.status_code == 200, saved.text
        assert "测试修改" in saved.json()["preview"]
        assert saved.json()["segments"] == 1  # 39 characters: one UCS-2 part

        n, dept = unique()
        event = discharge_event(n, dept, disposition="against_medical_advice")
        await send_events(stack_env, topics.DISCHARGES, event)
        row = await message_in(service, stack_env, f"P{n:06d}", "delivered", name)
        assert "测试修改" in row["body"] and dept in row["body"]
    finally:
        restore = await api.put(path, json={"body": original}, headers=as_(stack_env, "admin"))
        assert restore.status_code == 200


async def test_only_an_admin_makes_a_staff_template_urgent_and_no_one_a_patient_one(
    api, stack_env
) -> None:  # type: ignore[no-untyped-def]
    patient = await template(api, stack_env, "appointment_reminder")
    for role in ("supervisor", "admin"):
        resp = await api.put(
            "/v1/templates/appointment_reminder",
            json={"body": patient["body"], "urgent": True},
            headers=as_(stack_env, role),
        )
        assert resp.status_code == 422, resp.text
        [refusal] = resp.json()["errors"]  # a field error naming the flag
        assert refusal["location"] == ["body", "urgent"] and "patient" in refusal["message"]
    assert (await template(api, stack_env, "appointment_reminder"))["urgent"] is False

    staff = await template(api, stack_env, "staff_task_overdue")
    path, body = "/v1/templates/staff_task_overdue", staff["body"]
    urgent = {"body": body, "urgent": True}
    refused = await api.put(path, json=urgent, headers=as_(stack_env, "supervisor"))
    assert refused.status_code == 403 and "admin" in refused.json()["detail"]
    assert (await template(api, stack_env, "staff_task_overdue"))["urgent"] is False
    # The supervisor may still edit its text, as long as the flag stays as it is.
    text_only = await api.put(path, json={"body": body}, headers=as_(stack_env, "supervisor"))
    assert text_only.status_code == 200
    try:
        made = await api.put(path, json=urgent, headers=as_(stack_env, "admin"))
        assert made.status_code == 200 and made.json()["urgent"] is True
    finally:
        back = {"body": body, "urgent": False}
        assert (await api.put(path, json=back, headers=as_(stack_env, "admin"))).status_code == 200


async def test_a_template_lists_and_takes_only_the_placeholders_its_sender_fills(
    api, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """Before, every template listed (and took) every name any template has: the discharge
    notice took `{{ case_number }}`, which no discharge gives, and its SMS failed when sent."""
    name = "discharge_safety_notice"
    notice = await template(api, stack_env, name)
    assert notice["placeholders"] == ["department", "hospital", "hotline", "survey_url"]
    assert "case_number" in (await template(api, stack_env, "staff_case_assigned"))["placeholders"]
    alert = await template(api, stack_env, "staff_monitoring_alert")
    assert "case_number" not in alert["placeholders"] and "alert" in alert["placeholders"]
    body = "【{{ hospital }}】{{ department }}提醒：案件{{ case_number }}。回复退订不再接收"
    path = f"/v1/templates/{name}"
    refused = await api.put(path, json={"body": body}, headers=as_(stack_env, "supervisor"))
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["errors"]
    assert error["location"][-1] == "body" and "'case_number'" in error["message"]
    assert "not given to this template" in error["message"]
    assert (await template(api, stack_env, name))["body"] == notice["body"]  # nothing saved

    shown = await api.get(path, headers=as_(stack_env, "agent"))  # the console's preview
    assert shown.status_code == 200, shown.text
    assert shown.json()["body"] == notice["body"] and shown.json()["segments"] >= 1
    assert shown.json()["preview"].startswith("【市第一人民医院】心内科提醒您")
    assert shown.json()["placeholders"] == notice["placeholders"]
    missing = await api.get("/v1/templates/no_such", headers=as_(stack_env, "agent"))
    assert missing.status_code == 404


async def test_a_patients_complaint_message_cannot_be_given_the_staff_consoles_link(
    api, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """Before, the acknowledgement and outcome took `{{ link }}`, the console's `/cases/N`: an
    edit could text a staff-only address to the complainant."""
    for name in ("complaint_acknowledgement", "complaint_outcome"):
        before = await template(api, stack_env, name)
        assert "link" not in before["placeholders"]
        body = before["body"] + "{{ link }}"
        path = f"/v1/templates/{name}"
        refused = await api.put(path, json={"body": body}, headers=as_(stack_env, "admin"))
        assert refused.status_code == 422, refused.text
        [error] = refused.json()["errors"]
        assert "'link'" in error["message"] and "not given to this template" in error["message"]
        assert (await template(api, stack_env, name))["body"] == before["body"]
    assert "link" in (await template(api, stack_env, "staff_case_assigned"))["placeholders"]
