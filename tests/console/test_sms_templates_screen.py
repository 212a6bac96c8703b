"""The SMS templates' screen (sms_templates.py): before it, supervisors and operations edited the
patients' texts with hand-made `PUT /v1/templates/{name}` calls. The app in this process
(tests/console/in_process.py) with notifications answered here; the screen in a real browser on
the real stack is tests/e2e/test_console_sms_templates.py's."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.console.in_process import Console, console, idle_services

PLACEHOLDERS = ["department", "hospital", "hotline"]
REMINDER = {"name": "appointment_reminder", "audience": "patient", "urgent": False,
            "body": "【{{ hospital }}】请按时就诊。<b>回复退订</b>", "send_to_deceased": False,
            "description": "Appointment reminder", "updated_at": "2026-12-01T02:00:00Z",
            "updated_by": None, "placeholders": PLACEHOLDERS}  # fmt: skip
ALERT = {"name": "staff_monitoring_alert", "audience": "staff", "urgent": True,
         "body": "{{ alert }}: {{ summary }}", "send_to_deceased": False,
         "description": "A monitoring alert", "updated_at": "2026-12-01T02:00:00Z",
         "updated_by": None, "placeholders": PLACEHOLDERS}  # fmt: skip
ADDED = ALERT | {
    "name": "ward_visiting_hours",
    "urgent": False,
    "description": "Visiting hours (a hospital's own)",
}  # no label in the catalogue
UNKNOWN = "template cannot be rendered: UndefinedError: 'bed' is undefined"


class Notifications:
    """The templates, and the PUTs sent (refused when the text names `bed`)."""

    def __init__(self) -> None:
        self.puts: list[tuple[str, dict[str, Any]]] = []
        self.saved = REMINDER | {"preview": "", "segments": 0}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/templates":
            return httpx.Response(200, json={"items": [REMINDER, ALERT, ADDED], "next": None})
        if request.url.path.startswith("/v1/templates/") and request.method == "PUT":
            name = request.url.path.rsplit("/", 1)[1]
            body = json.loads(request.content)
            self.puts.append((name, body))
            if "{{ bed }}" in body["body"]:
                error = {"location": ["body", "body"], "message": UNKNOWN, "type": "value_error"}
                return httpx.Response(422, json={"status": 422, "errors": [error]})
            self.saved = (
                REMINDER | body | {"preview": "【市第一人民医院】请于明日就诊", "segments": 2}
            )
            return httpx.Response(200, json=self.saved)
        if request.url.path == "/v1/templates/appointment_reminder" and request.method == "GET":
            return httpx.Response(200, json=self.saved)
        return idle_services(request)


def _as(role: str) -> tuple[Console, Notifications, str]:
    services = Notifications()
    app = console(services)
    session = app.sign_in(staff_id="S-1", roles=[role], department="OPS")
    return app, services, session.csrf_token


def test_a_supervisor_has_the_menu_entry_and_an_edit_form_with_its_placeholders() -> None:
    app, _, _ = _as("supervisor")
    page = app.client.get("/templates?edit=appointment_reminder")
    assert page.status_code == 200
    assert '<li><a href="/templates" aria-current="page">短信模板<' in page.text
    assert "就诊提醒（appointment_reminder）" in page.text  # the catalogue's label
    assert "系统告警<br>" in page.text
    assert "Visiting hours (a hospital&#39;s own)" in page.text  # no label: its description
    assert "<li><code>{{ hotline }}</code></li>" in page.text
    assert 'name="send_to_deceased"' in page.text
    assert 'name="urgent"' not in page.text  # a patient template is never urgent
    # the text is data: escaped in the list and in the textarea
    assert "&lt;b&gt;回复退订&lt;/b&gt;" in page.text and "<b>回复退订" not in page.text


def test_an_agent_reads_the_templates_without_a_menu_entry_or_a_form() -> None:
    app, services, csrf = _as("agent")
    page = app.client.get("/templates?edit=appointment_reminder")
    assert page.status_code == 200 and "staff_monitoring_alert" in page.text
    assert '<li><a href="/templates"' not in page.text and "<textarea" not in page.text
    assert "短信模板由主管和运营人员修改" in page.text
    refused = app.client.post("/templates", data={"csrf_token": csrf, "name": "x", "body": "y"})
    assert refused.status_code == 403 and services.puts == []


def test_the_services_refusal_is_shown_beside_the_text_which_is_kept() -> None:
    app, services, csrf = _as("supervisor")
    typed = "【{{ hospital }}】请于{{ bed }}就诊\r\n回复退订"
    form = {"csrf_token": csrf, "name": "appointment_reminder", "body": typed}
    page = app.client.post("/templates", data=form)
    assert page.status_code == 422
    assert 'id="err-body">内容中有不认识的占位符「bed」' in page.text
    assert ">【{{ hospital }}】请于{{ bed }}就诊\n回复退订</textarea>" in page.text
    assert services.puts == [("appointment_reminder", {"body": typed.replace("\r\n", "\n"),
                                                       "send_to_deceased": False})]  # fmt: skip


def test_a_save_redirects_to_the_templates_page_showing_the_preview_and_its_sms_parts() -> None:
    app, services, csrf = _as("supervisor")
    form = {"csrf_token": csrf, "name": "appointment_reminder", "body": "【{{ hospital }}】请于明日就诊",
            "send_to_deceased": "on", "urgent": "on"}  # fmt: skip
    posted = app.client.post("/templates", data=form)
    # POST-redirect-GET: before, the POST answered the page, and a reload posted the text again
    assert posted.status_code == 303
    assert posted.headers["location"] == "/templates?edit=appointment_reminder&saved=1#tpl-saved"
    for _ in range(2):  # the page, and its reload: one PUT
        page = app.client.get(posted.headers["location"])
        assert page.status_code == 200
        assert "已保存：就诊提醒（appointment_reminder）" in page.text
        assert "，共 2 条短信：" in page.text and "【市第一人民医院】请于明日就诊" in page.text
    assert len(services.puts) == 1
    # a supervisor's form sends no `urgent`: it is not theirs to change
    assert services.puts[-1][1] == {"body": form["body"], "send_to_deceased": True}
    assert "已保存" not in app.client.get("/templates?edit=appointment_reminder").text


def test_operations_set_a_staff_templates_urgency() -> None:
    app, services, csrf = _as("admin")
    page = app.client.get("/templates?edit=staff_monitoring_alert")
    assert 'name="urgent" checked' in page.text
    form = {"csrf_token": csrf, "name": "staff_monitoring_alert", "body": "{{ alert }}"}
    app.client.post("/templates", data=form)
    assert services.puts[-1] == ("staff_monitoring_alert",
                                 {"body": "{{ alert }}", "send_to_deceased": False, "urgent": False})  # fmt: skip


def test_a_form_without_its_csrf_token_saves_nothing() -> None:
    app, services, _ = _as("supervisor")
    refused = app.client.post("/templates", data={"name": "appointment_reminder", "body": "x"})
    assert refused.status_code == 403 and services.puts == []
