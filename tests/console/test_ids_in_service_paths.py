"""An id typed or linked into the console stays one segment of the service's path
(console/backend.py `segment`): `quote` kept `/` and the HTTP client resolves `..`, so
`/staff?edit=../tasks/T-1` made the console GET follow-up's `/v1/tasks/T-1` with the
operations member's token, and the roster's PUT did not quote at all. And an id the service
cannot hold (follow-up's over 64 characters) is its refusal beside `staff_id`, what was typed
kept, not the error page. The app in this process (tests/console/in_process.py), with the
services answered here recording each path as sent."""

from __future__ import annotations

import httpx

from tests.console.in_process import Console, console, idle_services

TOO_LONG = {"location": ["path", "staff_id"], "message": "String should have at most 64 characters",
            "type": "string_too_long"}  # fmt: skip
EDIT = {"name": "护士 陈静", "department_code": "CARD", "role": "agent", "capacity": "30",
        "phone": "13912345678", "do": "save"}  # fmt: skip


class Services:
    """Every path as the console sent it (encoded), and follow-up's answers: an empty roster,
    a PUT saved, an id over 64 characters refused as follow-up refuses it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        raw = request.url.raw_path.decode().split("?")[0]
        self.sent.append((request.method, raw))
        if raw == "/v1/staff":
            return httpx.Response(200, json={"items": [], "next": None, "limit": 100})
        if raw == "/v1/templates":
            return httpx.Response(200, json={"items": [], "next": None})
        if raw.startswith("/v1/staff/") and len(raw) > len("/v1/staff/") + 64:
            return httpx.Response(422, json={"status": 422, "errors": [TOO_LONG]})
        if raw.startswith("/v1/staff/") and request.method == "PUT":
            return httpx.Response(200, json={"changed": True, "handed_back": 0, "member": {}})
        return idle_services(request)

    def paths(self, method: str = "GET") -> list[str]:
        every_page = ("/v1/inbox/unread", "/v1/departments")  # the menu's count, the names
        return [path for m, path in self.sent if m == method and path not in every_page]


def _as(*roles: str) -> tuple[Console, Services, str]:
    services = Services()
    app = console(services)
    session = app.sign_in(staff_id="S-OPS-01", roles=list(roles), department="OPS")
    return app, services, session.csrf_token


def test_the_rosters_edit_link_with_a_path_in_it_stays_a_staff_id() -> None:
    app, services, _ = _as("admin")
    assert app.client.get("/staff", params={"edit": "../tasks/T-1"}).status_code == 200
    assert app.client.get("/staff", params={"edit": ".."}).status_code == 200
    asked = services.paths()
    assert "/v1/staff/..%2Ftasks%2FT-1" in asked and "/v1/staff/%2E%2E" in asked
    assert not [p for p in asked if not p.startswith("/v1/staff")]  # no /v1/tasks/T-1, no /v1/


def test_the_rosters_save_puts_the_staff_id_as_one_segment() -> None:
    app, services, csrf = _as("admin")
    # an edit: a new member's id with `/` is refused before any call (test_staff_roster_saves)
    form = EDIT | {"csrf_token": csrf, "staff_id": "../tasks/T-1", "active": "on", "editing": "1"}
    saved = app.client.post("/staff", data=form)
    assert services.paths("PUT") == ["/v1/staff/..%2Ftasks%2FT-1"]  # was /v1/tasks/T-1
    assert saved.status_code == 303


def test_the_templates_edit_link_with_a_path_in_it_stays_a_template_name() -> None:
    app, services, _ = _as("supervisor")
    page = app.client.get("/templates", params={"edit": "../staff/S-1", "saved": "1"})
    assert page.status_code == 200
    assert services.paths() == ["/v1/templates", "/v1/templates/..%2Fstaff%2FS-1"]


def test_taking_a_call_whose_id_is_dots_takes_nothing_else() -> None:
    app, services, csrf = _as("agent")
    app.client.post("/worklist/%2E%2E/take", data={"csrf_token": csrf})
    assert services.paths("POST") == ["/v1/tasks/%2E%2E/take"]  # was /v1/take


def test_a_staff_id_follow_up_cannot_hold_is_its_refusal_beside_the_id_with_the_form_kept() -> None:
    """Before, the look-up before the save raised follow-up's 422 to the error page and what
    was typed was lost."""
    app, services, csrf = _as("admin")
    long_id = "N" * 65
    page = app.client.post("/staff", data=EDIT | {"csrf_token": csrf, "staff_id": long_id})
    assert page.status_code == 422
    assert 'id="err-staff_id"' in page.text
    assert f'value="{long_id}"' in page.text and 'value="护士 陈静"' in page.text
    assert services.paths("PUT") == []
