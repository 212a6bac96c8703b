"""Deactivating a member on the roster screen asks first (staff.py): before, 停用 was one
click that posted at once, and the member's open calls and cases stayed theirs unnoticed; then
the edit form's 在岗 unticked still did, without asking. A role change, or a move to another
department, that hands work back asks the same way, and each confirmation counts what the services say will go. The
app in this process (tests/console/in_process.py), follow-up and complaints answered here; the
screen in a real browser on the real stack is tests/e2e/test_console_staff.py's."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from tests.console.in_process import Console, console, idle_services

NURSE = {"staff_id": "N-1", "name": "护士 陈静", "department_code": "CARD", "role": "agent",
         "capacity": 25, "phone": None, "active": True, "updated_at": "2026-12-01T02:00:00Z",
         "open_tasks": 3}  # fmt: skip


# What complaints counts a deactivation of the nurse would hand back.
HER_WORK = {"cases_handled": 2, "cases_supervised": 0, "enquiries_owned": 1,
            "enquiries_supervised": 0}  # fmt: skip
NOTHING = dict.fromkeys(HER_WORK, 0)


class Services:
    """Follow-up's roster and both services' counts of what a save would hand back (`role_calls`
    and `role_work`: for a role change); the PUTs follow-up was sent, the counts asked for."""

    def __init__(
        self, *, complaints_away: bool = False, active: bool = True, handed_back: int = 3,
        first_page: list[dict[str, Any]] | None = None, role_calls: int = 0,
        role_work: dict[str, int] | None = None,
    ) -> None:  # fmt: skip
        self.first_page = first_page  # the list's first page, when the nurse is on a later one
        self.complaints_away = complaints_away
        self.nurse = NURSE | {"active": active}
        self.handed_back = handed_back
        self.role_calls, self.role_work = role_calls, role_work or NOTHING
        self.puts: list[dict[str, Any]] = []
        self.asked: list[tuple[str, dict[str, str]]] = []  # (which service, its query)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v1/staff":
            if self.first_page is not None:
                page = {"items": self.first_page, "next": "/v1/staff?cursor=x", "limit": 100}
                return httpx.Response(200, json=page)
            return httpx.Response(200, json={"items": [self.nurse], "next": None, "limit": 500})
        if path == "/v1/staff/N-1/handback":
            return self._handback(request)
        if path == "/v1/staff/N-1" and request.method == "GET":
            return httpx.Response(200, json=self.nurse)
        if path == "/v1/staff/N-1" and request.method == "PUT":
            self.puts.append(json.loads(request.content))
            saved = {"changed": True, "handed_back": self.handed_back, "member": self.nurse}
            return httpx.Response(200, json=saved)
        return idle_services(request)

    def _handback(self, request: httpx.Request) -> httpx.Response:
        query = dict(request.url.params)
        leaving = query["active"] == "false"
        service = "followup" if request.url.port == 8002 else "complaints"
        self.asked.append((service, query))
        if service == "followup":
            return httpx.Response(200, json={"calls": 3 if leaving else self.role_calls})
        if self.complaints_away:
            return httpx.Response(503, json={"detail": "down"})
        return httpx.Response(200, json=HER_WORK if leaving else self.role_work)


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
    assert "其处理的未结投诉案件：2 件" in asked.text
    assert "其督办的未结投诉案件：0 件" in asked.text  # before, neither of these was counted
    assert "其负责的未答复咨询：1 件" in asked.text
    assert 'name="confirmed" value="1"' in asked.text and ">确认停用<" in asked.text
    assert services.puts == []
    assert services.asked == [(s, {"role": "agent", "active": "false"})
                              for s in ("followup", "complaints")]  # fmt: skip


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
    assert "Their open complaint cases and enquiries could not be counted." in asked.text
    assert "Open follow-up calls assigned to them: 3." in asked.text


EDIT = {"staff_id": "N-1", "name": "护士 陈静", "department_code": "CARD", "role": "agent",
        "capacity": "30", "phone": "13912345678", "editing": "1", "do": "save"}  # fmt: skip


def _confirmation_form(html: str) -> dict[str, str]:
    """The fields the confirmation's form posts: its hidden inputs and its button."""
    form = html[html.index('id="deactivate-confirm"') :]
    form = form[: form.index("</form>")]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    [(name, value)] = re.findall(r'<button type="submit" name="([^"]+)" value="([^"]*)"', form)
    return fields | {name: value}


def test_the_edit_form_with_在岗_unticked_asks_first_and_its_confirmation_saves_the_edit() -> None:
    """Before, unticking 在岗 and saving deactivated the nurse at once, her open calls handed
    back unasked. Now the same confirmation as 停用's; its form carries what was typed."""
    services = Services()
    app, csrf = _operations(services)
    asked = app.client.post("/staff", data=EDIT | {"csrf_token": csrf})  # no `active`: unticked
    assert services.puts == []
    assert asked.status_code == 200
    assert "确认停用 N-1 护士 陈静？" in asked.text
    assert "未完成的回访电话：3 个" in asked.text and "其处理的未结投诉案件：2 件" in asked.text
    assert 'href="/staff?edit=N-1"' in asked.text  # 取消: back to her edit form, nothing sent
    assert 'id="m-capacity" name="capacity" value="30"' in asked.text  # the form as typed
    confirm = _confirmation_form(asked.text)
    assert confirm["confirmed"] == "1" and "active" not in confirm
    saved = app.client.post("/staff", data=confirm)
    assert saved.status_code == 303
    assert saved.headers["location"] == "/staff?saved=N-1&handed_back=3"
    assert services.puts == [{"name": "护士 陈静", "department_code": "CARD", "role": "agent",
                              "phone": "13912345678", "active": False, "capacity": 30}]  # fmt: skip


def test_an_edit_keeping_在岗_or_of_a_member_already_inactive_is_saved_without_asking() -> None:
    services = Services(handed_back=0)
    app, csrf = _operations(services)
    kept = app.client.post("/staff", data=EDIT | {"csrf_token": csrf, "active": "on"})
    assert (kept.status_code, kept.headers["location"]) == (303, "/staff?saved=N-1")
    inactive = Services(active=False, handed_back=0)
    app, csrf = _operations(inactive)
    edited = app.client.post("/staff", data=EDIT | {"csrf_token": csrf})
    assert (edited.status_code, edited.headers["location"]) == (303, "/staff?saved=N-1")
    assert [p["active"] for p in services.puts + inactive.puts] == [True, False]


def test_the_saved_message_counts_the_calls_handed_back_and_is_silent_on_none() -> None:
    app, _ = _operations(Services(active=False))
    handed = app.client.get("/staff?saved=N-1&handed_back=3").text
    assert "（停用）；其未完成的回访电话 3 个已退回待分派。" in handed
    none = app.client.get("/staff?saved=N-1").text
    flash = none[none.index('class="flash"') :]
    assert "已保存：N-1 护士 陈静（停用）</p>" in flash and "回访电话" not in flash[:200]


def test_a_count_in_the_address_that_is_not_plain_digits_is_no_count() -> None:
    """`handed_back` comes back in the address after a save: "²" is a digit to `isdigit` but
    not to `int` (it answered 500), and 5,000 digits are too many for `int`."""
    app, _ = _operations(Services(active=False))
    for raw in ("²", "٣", "9" * 5000, "-1", "x"):
        page = app.client.get("/staff", params={"saved": "N-1", "handed_back": raw})
        assert page.status_code == 200, raw
        assert "回访电话" not in page.text[page.text.index('class="flash"') :][:200], raw


def test_a_member_beyond_the_lists_first_page_is_edited_and_asked_about_by_id() -> None:
    """Before, the screen looked a member up in follow-up's first 500: one beyond them had an
    empty 添加人员 form, and her edit with 在岗 unticked deactivated her without asking."""
    others = [NURSE | {"staff_id": f"A-{i:03d}", "name": f"测试 {i}"} for i in range(100)]
    services = Services(first_page=others)
    app, csrf = _operations(services)
    page = app.client.get("/staff?edit=N-1")
    assert '<h2 id="h-form">修改人员</h2>' in page.text
    assert 'id="m-name" name="name" value="护士 陈静"' in page.text
    assert 'href="/staff?cursor=x&amp;back=-">下一页</a>' in page.text
    asked = app.client.post("/staff", data=EDIT | {"csrf_token": csrf})  # 在岗 unticked
    assert services.puts == []
    assert "确认停用 N-1 护士 陈静？" in asked.text
    assert 'href="/staff?deactivate=N-1#h-confirm"' not in app.client.get("/staff").text
    assert "确认停用 N-1 护士 陈静？" in app.client.get("/staff?deactivate=N-1").text


def test_a_role_change_that_hands_work_back_asks_first_saying_what_and_saves_the_edit() -> None:
    """Before, making the agent operations saved at once, and her open calls, cases and
    enquiries were handed back unasked. Now a confirmation says what the new role may not hold,
    as the services count it for that role; its form carries the whole edit, 在岗 ticked."""
    work = NOTHING | {"cases_handled": 2, "enquiries_owned": 1}
    services = Services(role_calls=3, role_work=work)
    app, csrf = _operations(services)
    asked = app.client.post("/staff", data=EDIT | {"csrf_token": csrf, "active": "on",
                                                    "role": "admin"})  # fmt: skip
    assert (asked.status_code, services.puts) == (200, [])
    assert "确认将 N-1 护士 陈静 的角色改为运营部？" in asked.text
    assert "新角色不能拨打的：3 个" in asked.text
    assert "其处理的未结投诉案件：2 件" in asked.text and "其负责的未答复咨询：1 件" in asked.text
    assert ">确认修改<" in asked.text and 'href="/staff?edit=N-1"' in asked.text
    assert services.asked == [(s, {"role": "admin", "active": "true"})
                              for s in ("followup", "complaints")]  # fmt: skip
    confirm = _confirmation_form(asked.text)
    assert (confirm["confirmed"], confirm["active"], confirm["role"]) == ("1", "on", "admin")
    saved = app.client.post("/staff", data=confirm)
    assert saved.headers["location"] == "/staff?saved=N-1&handed_back=3&because=role"
    assert services.puts == [{"name": "护士 陈静", "department_code": "CARD", "role": "admin",
                              "phone": "13912345678", "active": True, "capacity": 30}]  # fmt: skip
    page = app.client.get(saved.headers["location"]).text
    assert "；新角色不能拨打的回访电话 3 个已退回待分派。" in page


def test_a_role_change_handing_back_only_what_she_supervises_asks_too() -> None:
    services = Services(role_work=NOTHING | {"enquiries_supervised": 2})
    app, csrf = _operations(services)
    asked = app.client.post("/staff", data=EDIT | {"csrf_token": csrf, "active": "on",
                                                    "role": "doctor"})  # fmt: skip
    assert services.puts == [] and "其督办的未答复咨询：2 件" in asked.text


@pytest.mark.parametrize(
    "change", [{"role": "doctor"}, {"department_code": "ORTH"}], ids=["role", "department"]
)
def test_a_role_change_or_a_move_that_hands_nothing_back_is_saved_without_asking(
    change: dict[str, str],
) -> None:
    services = Services(handed_back=0)
    app, csrf = _operations(services)
    saved = app.client.post("/staff", data=EDIT | {"csrf_token": csrf, "active": "on"} | change)
    assert (saved.status_code, saved.headers["location"]) == (303, "/staff?saved=N-1")
    [(field, value)] = change.items()
    assert [p[field] for p in services.puts] == [value]


def test_a_role_change_asks_when_complaints_cannot_count_what_it_takes() -> None:
    services = Services(complaints_away=True)
    app, csrf = _operations(services)
    app.client.cookies.set("console_lang", "en")
    asked = app.client.post("/staff", data=EDIT | {"csrf_token": csrf, "active": "on",
                                                    "role": "admin"})  # fmt: skip
    assert services.puts == []
    assert "Change the role of N-1 护士 陈静 to Operations?" in asked.text
    assert "Their open complaint cases and enquiries could not be counted." in asked.text


def test_a_move_to_another_department_that_hands_work_back_asks_first_and_saves_the_edit() -> None:
    """Before, moving the nurse to another department saved at once, asking nothing, and her
    old department's calls, cases and enquiries stayed hers. Now the confirmation names the
    department, counts what the services say a move there hands back (the department asked
    about), and its form carries the whole edit."""
    work = NOTHING | {"cases_handled": 2, "enquiries_owned": 1}
    services = Services(role_calls=3, role_work=work)
    app, csrf = _operations(services)
    moved = EDIT | {"csrf_token": csrf, "active": "on", "department_code": "ORTH"}
    asked = app.client.post("/staff", data=moved)
    assert (asked.status_code, services.puts) == (200, [])
    assert "确认将 N-1 护士 陈静 调往科室 ORTH？" in asked.text
    assert "不属于科室 ORTH 的：3 个" in asked.text and "如原科室 CARD" in asked.text
    assert "其处理的未结投诉案件：2 件" in asked.text and ">确认调动<" in asked.text
    assert services.asked == [(s, {"role": "agent", "active": "true", "department": "ORTH"})
                              for s in ("followup", "complaints")]  # fmt: skip
    confirm = _confirmation_form(asked.text)
    assert (confirm["department_code"], confirm["active"]) == ("ORTH", "on")
    saved = app.client.post("/staff", data=confirm)
    assert saved.headers["location"] == "/staff?saved=N-1&handed_back=3&because=department"
    assert [(p["department_code"], p["active"]) for p in services.puts] == [("ORTH", True)]
    page = app.client.get(saved.headers["location"]).text
    assert "；不属于新科室的回访电话 3 个已退回待分派。" in page


def test_a_move_with_a_new_role_asks_once_for_both() -> None:
    services = Services(role_calls=1)
    app, csrf = _operations(services)
    app.client.cookies.set("console_lang", "en")
    asked = app.client.post("/staff", data=EDIT | {"csrf_token": csrf, "active": "on",
                                                    "role": "doctor", "department_code": "ORTH"})  # fmt: skip
    assert services.puts == []
    assert "Change the role of N-1 护士 陈静 to Doctor and move them to department ORTH?" in (
        asked.text
    )
    assert "that the new role may not make or that are not department ORTH&#39;s: 1." in (
        asked.text
    )
