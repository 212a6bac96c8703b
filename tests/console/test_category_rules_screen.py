"""The complaint category rules' screen (console/category_rules.py, rule_order.py) in this
process: a move is the whole list's new order, sent at once with the version of the list the
page showed (a list changed since is shown again, nothing moved); the edit form sends only
the fields changed; adding a rule another has the category and keyword of is refused
before the service's upsert replaces that one; the service's refusal is beside its field, what
was typed kept. Saving through the real service is tests/e2e/test_console_category_rules.py."""

from __future__ import annotations

import json
from typing import Any

import httpx

from console.rule_order import moved
from tests.console.in_process import console, idle_services

RULES = [
    {"id": 1, "category": "medical_quality", "keyword": "医疗事故", "serious": True, "position": 10,
     "enabled": True, "note": None, "updated_at": "2026-12-01T02:00:00Z", "updated_by": "seed"},
    {"id": 2, "category": "billing", "keyword": "收费", "serious": False, "position": 20,
     "enabled": True, "note": None, "updated_at": "2026-12-01T02:00:00Z", "updated_by": "seed"},
]  # fmt: skip


class Complaints:
    """The rules as the service answers them (list version `v1`); a PATCH, and a PUT of the
    order made from `v1`, done; a PUT of another refused as stale; a POST refused naming
    `position`."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/category-rules" and request.method == "GET":
            return httpx.Response(200, json={"rules": RULES, "version": "v1"})
        if request.url.path.startswith("/v1/category-rules"):
            body = json.loads(request.content)
            self.sent.append((request.method, body))
            if request.method == "PATCH":
                return httpx.Response(200, json=RULES[0] | body)
            if request.method == "PUT" and body["version"] == "v1":
                return httpx.Response(200, json={"rules": RULES, "version": "v2"})
            if request.method == "PUT":
                return httpx.Response(409, json={"status": 409, "detail": "the rules changed"})
            error = {"location": ["body", "position"], "type": "int_parsing",
                     "message": "Input should be a valid integer"}  # fmt: skip
            return httpx.Response(422, json={"status": 422, "errors": [error]})
        return idle_services(request)


def _rule(rule_id: int, position: int) -> dict[str, Any]:
    return {"id": rule_id, "position": position}


def test_moving_a_rule_above_one_of_the_same_position_is_the_whole_new_order() -> None:
    rules = [_rule(1, 10), _rule(2, 100), _rule(3, 100)]
    assert moved(rules, 3, -1) == [1, 3, 2]


def test_a_rule_already_first_or_last_does_not_move() -> None:
    rules = [_rule(1, 10), _rule(2, 20)]
    assert moved(rules, 1, -1) == [] and moved(rules, 2, 1) == []


def _signed_in(service: Complaints, role: str = "admin") -> tuple[Any, str]:
    app = console(service)
    csrf = app.sign_in(staff_id="S-OPS-01", roles=[role], department="OPS").csrf_token
    return app, csrf


def test_adding_a_rule_another_has_the_category_and_keyword_of_is_refused_before_sending() -> None:
    service = Complaints()
    app, csrf = _signed_in(service)
    form = {"csrf_token": csrf, "id": "", "keyword": "医疗事故", "category": "medical_quality"}
    page = app.client.post("/category-rules", data=form)
    assert page.status_code == 422 and service.sent == []
    assert 'id="err-keyword">已有相同类别和关键词的规则（#1）' in page.text


def test_the_services_refusal_is_beside_its_field_with_what_was_typed_kept() -> None:
    service = Complaints()
    app, csrf = _signed_in(service)
    form = {"csrf_token": csrf, "id": "", "keyword": "停车难", "category": "environment",
            "position": "前面", "enabled": "on"}  # fmt: skip
    page = app.client.post("/category-rules", data=form)
    assert page.status_code == 422
    assert '<span class="field-error" id="err-position">应为整数</span>' in page.text
    assert 'value="停车难"' in page.text and 'value="前面"' in page.text
    assert service.sent == [("POST", {"keyword": "停车难", "category": "environment",
                                      "serious": False, "enabled": True, "note": None,
                                      "position": "前面"})]  # fmt: skip


def test_an_agent_reads_the_rules_but_may_not_change_them() -> None:
    service = Complaints()
    app, csrf = _signed_in(service, "agent")
    page = app.client.get("/category-rules", params={"edit": "new"})
    assert (
        page.status_code == 200
        and "医疗事故" in page.text
        and 'id="rules-keyword"' not in page.text
    )
    assert (
        app.client.post("/category-rules/1", data={"csrf_token": csrf, "do": "disable"}).status_code
        == 403
    )
    assert service.sent == []


def test_a_move_is_one_put_of_the_whole_order_made_from_the_list_the_page_showed() -> None:
    service = Complaints()
    app, csrf = _signed_in(service)
    page = app.client.post("/category-rules/2", data={"csrf_token": csrf, "do": "up",
                                                      "version": "v1"}, follow_redirects=False)  # fmt: skip
    assert page.status_code == 303
    assert service.sent == [("PUT", {"ids": [2, 1], "version": "v1"})]


def test_a_move_from_a_page_older_than_the_list_shows_the_list_as_it_is_and_moves_nothing() -> None:
    service = Complaints()
    app, csrf = _signed_in(service)
    page = app.client.post("/category-rules/2", data={"csrf_token": csrf, "do": "up",
                                                      "version": "v0"})  # fmt: skip
    assert page.status_code == 409 and service.sent == []
    assert "规则在您打开本页后已被他人更改，未作移动" in page.text
    assert 'name="version" value="v1"' in page.text  # the page now shows the list as it is


class MovedMeanwhile(Complaints):
    """A colleague's move commits between the console's read and its PUT: the PUT is stale."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            self.sent.append(("PUT", json.loads(request.content)))
            return httpx.Response(409, json={"status": 409, "detail": "the rules changed"})
        return super().__call__(request)


def test_a_move_the_service_finds_stale_shows_the_list_again_in_english() -> None:
    service = MovedMeanwhile()
    app, csrf = _signed_in(service)
    app.client.cookies.set("console_lang", "en")
    page = app.client.post("/category-rules/2", data={"csrf_token": csrf, "do": "up",
                                                      "version": "v1"})  # fmt: skip
    assert page.status_code == 409 and [m for m, _ in service.sent] == ["PUT"]
    assert "Someone changed the rules since you opened this page, so nothing was moved" in page.text


def test_saving_a_rule_sends_only_the_fields_changed_in_the_form() -> None:
    service = Complaints()
    app, csrf = _signed_in(service)
    form = app.client.get("/category-rules", params={"edit": "1"}).text
    assert 'name="was_enabled" value="on"' in form and 'name="was_position" value="10"' in form
    loaded = {"keyword": "医疗事故", "category": "medical_quality", "serious": "on",
              "position": "10", "enabled": "on", "note": ""}  # fmt: skip
    typed = loaded | {"note": "含“事故”二字"}
    data = {"csrf_token": csrf, "id": "1", **typed, **{f"was_{k}": v for k, v in loaded.items()}}
    page = app.client.post("/category-rules", data=data, follow_redirects=False)
    assert page.status_code == 303
    assert service.sent == [("PATCH", {"note": "含“事故”二字"})]  # not enabled, not position
