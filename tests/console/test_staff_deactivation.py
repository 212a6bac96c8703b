"""Deactivating a member on the roster screen asks first (staff.py): before, 停用 was one
click that posted at once, and the member's open calls and cases stayed theirs unnoticed. The
app in this process (tests/console/in_process.py), follow-up and complaints answered here; the
screen in a real browser on the real stack is tests/e2e/test_console_staff.py's."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.console.in_process import Console, console, idle_services

NURSE = {"staff_id": "N-1", "name": "护士 陈静", "department_code": "CARD", "role": "agent",
         "capacity": 25, "phone": None, "active": True, "updated_at": "2026-12-01T02:00:00Z",
         "open_tasks": 3}  # fmt: skip


class Services:
    """Follow-up's roster and complaints' case workload; the PUTs follow-up was sent."""

    def __init__(self, *, complaints_away: bool = False) -> None:
        self.complaints_away = complaints_away
        self.puts: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v1/staff":
            return httpx.Response(200, json={"items": [NURSE], "next": None, "limit": 500})
        if path == "/v1/staff/N-1" and request.method == "PUT":
            self.puts.append(json.loads(request.content))
            return httpx.Response(200, json={"changed": True, "member": NURSE})
        if path == "/v1/case-workload":
            if self.complaints_away:
                return httpx.Response(503, json={"detail": "down"})
            handlers = [{"assignee_id": "N-1", "role": "agent", "department": "CARD",
                         "open_cases": 2, "warning": 0, "breached": 0}]  # fmt: skip
            return httpx.Response(200, json={"department": None, "handlers": handlers})
        return idle_services(request)


def _operations(services: Services) -> tuple[Console, str]:
    app = console(services)
    session = app.sign_in(staff_id="S-OPS-01", roles=["admin"], department="OPS")
    return app, session.csrf_token


def test_the_rosters_deactivate_asks_first_naming_the_member_and_their_open_work() -> None:
    services = Services()
    app, _ = _operations(services)
    roster = app.client.get("/staff")
    assert 'href="/staff?deactivate=N-1#h-confirm"' in roster.text
    assert 'value="deactivate"' not in roster.text  # no form posts from the row
    asked = app.client.get("/staff?deactivate=N-1")
    assert asked.status_code == 200
    assert "确认停用 N-1 护士 陈静？" in asked.text
    assert "未完成的回访电话：3 个" in asked.text and "科室 CARD 的在岗人员" in asked.text
    assert "未结投诉案件：2 件" in asked.text
    assert 'name="confirmed" value="1"' in asked.text and ">确认停用<" in asked.text
    assert services.puts == []


def test_a_deactivation_posted_without_the_confirmation_goes_to_it_and_changes_nothing() -> None:
    services = Services()
    app, csrf = _operations(services)
    form = {"csrf_token": csrf, "staff_id": "N-1", "do": "deactivate"}
    unasked = app.client.post("/staff", data=form)
    assert unasked.status_code == 303
    assert unasked.headers["location"] == "/staff?deactivate=N-1#h-confirm"
    assert services.puts == []
    confirmed = app.client.post("/staff", data=form | {"confirmed": "1"})
    assert confirmed.status_code == 303
    assert [p["active"] for p in services.puts] == [False]
    assert services.puts[0]["capacity"] == 25  # the member as on the roster, made inactive


def test_the_confirmation_works_when_complaints_cannot_count_the_cases() -> None:
    app, _ = _operations(Services(complaints_away=True))
    app.client.cookies.set("console_lang", "en")
    asked = app.client.get("/staff?deactivate=N-1")
    assert asked.status_code == 200
    assert "Their open complaint cases could not be counted." in asked.text
    assert "Open follow-up calls assigned to them: 3." in asked.text
