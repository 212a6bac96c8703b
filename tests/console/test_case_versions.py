"""The case page's forms carry the version of the case they showed, and a step refused because
the case changed since (409, version-mismatch) shows the case as it is now with a message
asking to check it and act again: a supervisor never approves a resolution they did not read.
The accountability form carries a one-time key, so a double click records the measure once."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from complaints.responses import CASE_EXAMPLE
from tests.console.in_process import console, idle_services

NUMBER = "TS-20261205-0001"
STALE = (
    f"case {NUMBER} changed since version 7: it is now resolution_proposed, version 9; reload it"
)


class Complaints:
    """The complaints service's answers for one case at version 9, refusing every step sent
    with another version as the service does."""

    def __init__(
        self,
        status: str = "resolution_proposed",
        allowed_next: tuple[str, ...] = ("resolution_approved", "investigating", "withdrawn"),
    ) -> None:
        self.sent: list[dict[str, Any]] = []
        self.status = status
        self.allowed_next = list(allowed_next)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST":
            self.sent.append(json.loads(request.content))
            return httpx.Response(409, json={
                "type": "urn:hospital:problem:version-mismatch", "title": "Conflict",
                "status": 409, "detail": STALE, "current_status": "resolution_proposed",
                "current_version": 9,
            })  # fmt: skip
        if path == f"/v1/cases/{NUMBER}":
            return httpx.Response(200, json=CASE_EXAMPLE | {
                "case_number": NUMBER, "status": self.status, "version": 9,
                "allowed_next": self.allowed_next,
                "resolution": "退款 5000 元", "resolution_kind": "refund",
            })  # fmt: skip
        if path == f"/v1/cases/{NUMBER}/audit":
            return httpx.Response(200, json={"case_number": NUMBER, "audit": []})
        if path == f"/v1/cases/{NUMBER}/accountability":
            return httpx.Response(200, json={"case_number": NUMBER, "accountability": []})
        if path == "/v1/staff":
            return httpx.Response(200, json={"items": [], "next": None, "limit": 50})
        return idle_services(request)


def test_every_form_of_the_case_page_carries_the_version_of_the_case_it_shows() -> None:
    app = console(Complaints())
    app.sign_in(roles=["supervisor"], staff_id="S-SUP-01")
    page = app.client.get(f"/cases/{NUMBER}")
    assert page.status_code == 200
    forms = re.findall(r"<form .*?</form>", page.text, flags=re.S)
    case_forms = [f for f in forms if f'action="/cases/{NUMBER}/' in f]
    assert len(case_forms) >= 4  # step, note, escalation, confidentiality
    for form in case_forms:
        assert '<input type="hidden" name="expected_version" value="9">' in form, form


def test_a_step_on_a_case_changed_since_the_page_was_read_is_refused_and_asks_to_reload() -> None:
    complaints = Complaints()
    app = console(complaints)
    session = app.sign_in(roles=["supervisor"], staff_id="S-SUP-01")
    answer = app.client.post(f"/cases/{NUMBER}/step", data={
        "to": "resolution_approved", "expected_version": "7", "csrf_token": session.csrf_token,
    })  # fmt: skip
    assert complaints.sent == [{"expected_version": 7, "to": "resolution_approved"}]
    assert answer.status_code == 409
    assert "已被他人修改" in answer.text and "本页已是最新内容" in answer.text
    assert "退款 5000 元" in answer.text  # the case as it is now, to be read before acting
    assert '<input type="hidden" name="expected_version" value="9">' in answer.text


def test_a_refused_step_keeps_the_resolution_typed_and_the_language_switch_shows_the_case() -> None:
    """A resolution written on a page the case had moved on from was lost with the refusal
    (only the note came back), and the language switch went to the step's POST address: a
    bare 405."""
    complaints = Complaints(status="investigating", allowed_next=("resolution_proposed",))
    app = console(complaints)
    session = app.sign_in(roles=["agent"], staff_id="S-AGENT-01")
    answer = app.client.post(
        f"/cases/{NUMBER}/step",
        data={"to": "resolution_proposed", "note": "核对收费记录", "resolution_kind": "refund",
              "resolution": '退还 120 元 "检查费"', "expected_version": "7",
              "csrf_token": session.csrf_token},
        headers={"Referer": f"http://testserver/cases/{NUMBER}?done=note"},
    )  # fmt: skip
    assert answer.status_code == 409 and "已被他人修改" in answer.text
    assert ">退还 120 元 &#34;检查费&#34;</textarea>" in answer.text
    assert '<option value="refund" selected>' in answer.text
    assert ">核对收费记录</textarea>" in answer.text
    assert f'href="/lang/en?next=/cases/{NUMBER}"' in answer.text  # the case page, no ?done=


def test_the_accountability_form_carries_a_new_one_time_key_each_time_it_is_shown() -> None:
    app = console(Complaints(status="resolution_implemented"))
    app.sign_in(roles=["supervisor"], staff_id="S-SUP-01")
    keys = [
        re.findall(r'name="record_key" value="([0-9a-f-]{36})"', app.client.get(
            f"/cases/{NUMBER}").text)
        for _ in range(2)
    ]  # fmt: skip
    assert len(keys[0]) == 1 and keys[0] != keys[1]


def test_the_accountability_forms_key_is_sent_with_the_record() -> None:
    complaints = Complaints(status="resolution_implemented")
    app = console(complaints)
    session = app.sign_in(roles=["supervisor"], staff_id="S-SUP-01")
    app.client.post(f"/cases/{NUMBER}/accountability", data={
        "staff_id": "S-CARD-01", "measure": "fine", "detail": "罚款 200 元",
        "record_key": "k-1", "expected_version": "9", "csrf_token": session.csrf_token,
    })  # fmt: skip
    assert complaints.sent == [{
        "expected_version": 9, "staff_id": "S-CARD-01", "measure": "fine",
        "detail": "罚款 200 元", "record_key": "k-1",
    }]  # fmt: skip


def test_in_english_the_conflict_says_the_page_is_current_not_to_reload_it() -> None:
    """The service's sentence ends "reload it" (right for an API client); a reload of the
    page the console answered re-sends the stale form and is refused again."""
    complaints = Complaints()
    app = console(complaints)
    session = app.sign_in(roles=["supervisor"], staff_id="S-SUP-01")
    app.client.cookies.set("console_lang", "en")
    answer = app.client.post(f"/cases/{NUMBER}/step", data={
        "to": "resolution_approved", "expected_version": "7", "csrf_token": session.csrf_token,
    })  # fmt: skip
    assert answer.status_code == 409
    assert "was changed by someone else" in answer.text and "version 9" in answer.text
    assert "it is now Resolution proposed" in answer.text and "reload" not in answer.text


def test_a_refused_form_keeps_its_choices_too() -> None:
    """The radio buttons and the select of a refused form came back unchosen (only the text
    fields were kept): the validity's founded / unfounded, the accountability's measure."""
    complaints = Complaints(status="investigating", allowed_next=("resolution_proposed",))
    app = console(complaints)
    session = app.sign_in(roles=["supervisor"], staff_id="S-SUP-01")
    answer = app.client.post(f"/cases/{NUMBER}/validity", data={
        "founded": "no", "reason": "监控显示已按规定收费", "expected_version": "7",
        "csrf_token": session.csrf_token,
    })  # fmt: skip
    assert answer.status_code == 409
    assert 'value="no" checked>' in answer.text and 'value="yes" required>' in answer.text
    complaints = Complaints(status="resolution_implemented")
    app = console(complaints)
    session = app.sign_in(roles=["supervisor"], staff_id="S-SUP-01")
    answer = app.client.post(f"/cases/{NUMBER}/accountability", data={
        "staff_id": "S-CARD-01", "measure": "fine", "detail": "罚款 200 元", "record_key": "k-2",
        "expected_version": "9", "csrf_token": session.csrf_token,
    })  # fmt: skip
    assert answer.status_code == 409
    assert '<option value="fine" selected>' in answer.text


# Follow-up's roster holding every role (one inactive agent).
ROSTER = [
    {"staff_id": sid, "name": None, "department_code": "CS", "role": role, "active": active}
    for sid, role, active in (
        ("S-AGENT-01", "agent", True),
        ("S-AGENT-02", "agent", False),
        ("S-DOC-01", "doctor", True),
        ("S-SUP-01", "supervisor", True),
        ("S-OPS-01", "admin", True),
        ("S-DIR-01", "director", True),
    )
]


class WithRoster(Complaints):
    """The same case; the roster as `ROSTER`."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/staff":
            return httpx.Response(200, json={"items": ROSTER, "next": None, "limit": 50})
        return super().__call__(request)


def test_the_reassignment_picker_offers_only_active_members_who_may_handle_a_case() -> None:
    """Complaints refuses operations and the director as a case's handler: not offered."""
    app = console(WithRoster())
    app.sign_in(roles=["supervisor"], staff_id="S-SUP-01")
    page = app.client.get(f"/cases/{NUMBER}")
    [picker] = re.findall(r'<select id="assignee".*?</select>', page.text, flags=re.S)
    offered = re.findall(r'<option value="([^"]+)"', picker)
    assert offered == ["S-AGENT-01", "S-DOC-01", "S-SUP-01"]
