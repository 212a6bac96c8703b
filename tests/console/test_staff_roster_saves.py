"""The roster screen's add and edit forms against a follow-up that keeps versions (staff.py):
the add form overwrote a member whose id it named (客服 王芳 became 新人 李四), two tabs
editing one member lost the first save, an id with `/` was a "Temporary Redirect" page or the
404 page with the form lost, and look-alike ids were added. The app in this process
(tests/console/in_process.py), follow-up answered here as its `PUT /v1/staff/{id}` answers
(tests/integration/test_followup_roster_saves.py is that on the real service)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import httpx

from hospital_shared.path_segments import RULE
from tests.console.in_process import Console, console, idle_services

WANG = {"staff_id": "S-AGENT-01", "name": "客服 王芳", "department_code": "CS", "role": "agent",
        "capacity": 40, "phone": "+8613800000001", "active": True,
        "updated_at": "2026-12-01T02:00:00Z", "version": 3, "open_tasks": 0}  # fmt: skip
FORM = {"name": "新人 李四", "department_code": "CS", "role": "agent", "capacity": "3",
        "phone": "13911112222", "active": "on", "do": "save"}  # fmt: skip


class FollowUp:
    """A roster of one (王芳, version 3) that checks `expected_version` as follow-up does, and
    answers a path with `/` in an id as the services do (a 422 naming the path parameter:
    hospital_shared.path_segments), or, `redirecting`, as they did before (307, no Location)."""

    def __init__(self, *, redirecting: bool = False) -> None:
        self.roster: dict[str, dict[str, Any]] = {"S-AGENT-01": dict(WANG)}
        self.puts: list[tuple[str, dict[str, Any]]] = []
        self.unseen: set[str] = set()  # ids the look-up misses (added since it was made)
        self.redirecting = redirecting

    def __call__(self, request: httpx.Request) -> httpx.Response:
        raw = request.url.raw_path.decode().split("?")[0]
        if "%2F" in raw and self.redirecting:
            return httpx.Response(307, json={"detail": "Temporary Redirect"})
        if "%2F" in raw:
            where = ["path", "name" if raw.startswith("/v1/templates/") else "staff_id"]
            error = {"location": where, "message": RULE, "type": "path_segment"}
            return httpx.Response(422, json={"status": 422, "errors": [error]})
        if raw in ("/v1/staff", "/v1/templates"):
            items = list(self.roster.values()) if raw == "/v1/staff" else []
            return httpx.Response(200, json={"items": items, "next": None})
        if not raw.startswith("/v1/staff/") or "/handback" in raw:
            return idle_services(request)
        staff_id = unquote(raw.removeprefix("/v1/staff/"))
        if request.method == "PUT":
            return self._put(staff_id, json.loads(request.content))
        found = None if staff_id in self.unseen else self.roster.get(staff_id)
        return httpx.Response(200, json=found) if found else httpx.Response(404, json={})

    def _put(self, staff_id: str, body: dict[str, Any]) -> httpx.Response:
        self.puts.append((staff_id, dict(body)))
        current = self.roster.get(staff_id)
        version = current["version"] if current else 0
        expected = body.pop("expected_version", None)
        if expected is not None and expected != version:
            text = (f"staff member {staff_id} is already on the roster (version {version})"
                    if expected == 0 else f"staff member {staff_id} changed since version"
                    f" {expected}: it is now version {version}; reload it")  # fmt: skip
            problem = {"status": 409, "detail": text, "current_version": version}
            return httpx.Response(409, json=problem)
        member = {**(current or WANG), **body, "staff_id": staff_id, "version": version + 1}
        self.roster[staff_id] = member
        return httpx.Response(200, json={"changed": True, "handed_back": 0, "member": member})


def _operations(*, redirecting: bool = False) -> tuple[Console, FollowUp, str]:
    services = FollowUp(redirecting=redirecting)
    app = console(services)
    session = app.sign_in(staff_id="S-OPS-01", roles=["admin"], department="OPS")
    return app, services, session.csrf_token


def test_adding_an_id_on_the_roster_is_refused_beside_it_with_a_link_to_edit_them() -> None:
    app, services, csrf = _operations()
    form = FORM | {"csrf_token": csrf, "editing": "0", "staff_id": "S-AGENT-01"}
    page = app.client.post("/staff", data=form)
    assert page.status_code == 409
    assert 'id="err-staff_id"' in page.text and "名单上已有工号 S-AGENT-01 的人员" in page.text
    assert 'id="exists-edit" href="/staff?edit=S-AGENT-01"' in page.text
    assert 'value="新人 李四"' in page.text and 'value="13911112222"' in page.text  # kept
    assert services.puts == [] and services.roster["S-AGENT-01"]["name"] == "客服 王芳"
    # a full-width look-alike of the id is the same member
    wide = form | {"staff_id": "Ｓ-ＡＧＥＮＴ-０１"}
    assert app.client.post("/staff", data=wide).status_code == 409 and services.puts == []


def test_an_add_that_races_another_is_refused_by_follow_up_the_same_way() -> None:
    """The console's look-up found nobody, and follow-up then had the member (added in another
    tab meanwhile): the add form's save carries version 0, and follow-up's 409 reads as the
    look-up's refusal."""
    app, services, csrf = _operations()
    services.unseen.add("S-AGENT-01")
    form = FORM | {"csrf_token": csrf, "editing": "0", "staff_id": "S-AGENT-01"}
    page = app.client.post("/staff", data=form)
    assert services.puts == [("S-AGENT-01", {**_sent(FORM), "expected_version": 0})]
    assert page.status_code == 409 and 'id="exists-edit"' in page.text
    assert "名单上已有工号 S-AGENT-01 的人员" in page.text and 'value="新人 李四"' in page.text
    assert services.roster["S-AGENT-01"]["name"] == "客服 王芳"
    wide = app.client.post("/staff", data=form | {"staff_id": "Ｓ-ＡＧＥＮＴ-０１"})
    assert 'id="exists-edit" href="/staff?edit=S-AGENT-01"' in wide.text  # the member's own id


def _sent(form: dict[str, str]) -> dict[str, Any]:
    return {"name": form["name"], "department_code": form["department_code"],
            "role": form["role"], "phone": form["phone"], "active": True,
            "capacity": int(form["capacity"])}  # fmt: skip


def test_an_edit_of_a_member_saved_since_shows_them_as_they_are_now() -> None:
    app, services, csrf = _operations()
    tab_one = app.client.get("/staff", params={"edit": "S-AGENT-01"})
    assert 'name="expected_version" value="3"' in tab_one.text
    edit = FORM | {"csrf_token": csrf, "editing": "1", "staff_id": "S-AGENT-01",
                   "expected_version": "3"}  # fmt: skip
    first = app.client.post("/staff", data=edit | {"name": "客服 王芳芳"})
    assert first.status_code == 303 and services.roster["S-AGENT-01"]["version"] == 4
    second = app.client.post("/staff", data=edit | {"name": "客服 王小芳"})
    assert second.status_code == 409
    assert "在您打开表单后已被他人修改" in second.text and 'id="staff-stale"' in second.text
    assert (
        'value="客服 王芳芳"' in second.text and 'name="expected_version" value="4"' in second.text
    )
    assert services.roster["S-AGENT-01"]["name"] == "客服 王芳芳"


def test_a_deactivation_confirmed_after_an_edit_is_shown_the_member_as_they_are_now() -> None:
    """The confirmation carries the version it named; saved since, its 停用 saves nothing."""
    app, services, csrf = _operations()
    form = {"csrf_token": csrf, "staff_id": "S-AGENT-01", "do": "deactivate", "confirmed": "1",
            "expected_version": "2"}  # fmt: skip
    page = app.client.post("/staff", data=form)
    assert page.status_code == 409 and 'id="staff-stale"' in page.text
    assert "在您打开表单后已被他人修改" in page.text and "名单上已有" not in page.text
    assert services.roster["S-AGENT-01"]["active"] is True


def test_an_id_with_a_slash_is_not_found_and_refused_as_a_field() -> None:
    app, services, csrf = _operations()
    for params in ({"edit": "/"}, {"saved": "/"}):
        page = app.client.get("/staff", params=params)
        assert page.status_code == 200, (params, page.text[:300])
        assert "Temporary Redirect" not in page.text
    templates = app.client.get("/templates", params={"edit": "/", "saved": "1"})
    assert templates.status_code == 200 and "Temporary Redirect" not in templates.text
    form = FORM | {"csrf_token": csrf, "editing": "0", "staff_id": "S/NEW"}
    page = app.client.post("/staff", data=form)
    assert page.status_code == 422 and 'id="err-staff_id"' in page.text
    assert 'value="S/NEW"' in page.text and 'value="新人 李四"' in page.text
    assert services.puts == []


def test_a_service_that_redirects_is_said_to_have_redirected_not_that_nothing_was_found() -> None:
    """The services answer no redirect now; one that did (a service of an older release) was
    the not-found page, as if the member did not exist."""
    app, _, _ = _operations(redirecting=True)
    page = app.client.get("/staff", params={"edit": "/"})
    assert page.status_code == 502, page.text[:300]
    assert "followup 服务答以重定向（307），控制台不跟随" in page.text
    assert "未找到" not in page.text
    app.client.cookies.set("console_lang", "en")
    english = app.client.get("/staff", params={"edit": "/"})
    assert "The followup service answered with a redirect (307)" in english.text


def test_look_alike_ids_are_refused_before_anything_is_saved() -> None:
    app, services, csrf = _operations()
    for staff_id in ("S-AGENT-01\u200b", "S NEW 01", "..", "张三"):
        form = FORM | {"csrf_token": csrf, "editing": "0", "staff_id": staff_id}
        page = app.client.post("/staff", data=form)
        assert page.status_code == 422, staff_id
        assert "工号只能由英文字母、数字和 - _ . 组成" in page.text, staff_id
    assert services.puts == []
    wide = FORM | {"csrf_token": csrf, "editing": "0", "staff_id": "Ｓ-ＮＥＷ-０１"}
    saved = app.client.post("/staff", data=wide)
    assert saved.status_code == 303 and saved.headers["location"] == "/staff?saved=S-NEW-01"
    assert services.puts[0][0] == "S-NEW-01"
