"""The staff roster's screen (人员名单) on the real stack: operations (admin) list the roster,
add a nurse, correct what the console or follow-up refuses with everything typed kept, edit
and deactivate her, all through follow-up's `PUT /v1/staff/{id}`; in Chinese and in English.
Deactivating asks first, saying how many open calls and cases she holds and what becomes of
them; her open call goes back to be assigned. Unticking 在岗 in the edit form asks the same,
and confirming saves the whole edit. Making an agent operations asks too, saying which of her
open call, complaint case and enquiry the new role may not hold; confirming hands them back.
Moving an agent to another department asks the same, for what she holds for the old one.
A supervisor has no menu entry and is refused the page (audit finding 2).

Screenshots go to test-artifacts/screenshots/ (1366x768)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page

from hospital_shared import topics
from tests.browser import has_no_horizontal_scroll, page_as, screenshot
from tests.factories import discharge, to_bytes
from tests.integration.services import RunningService, running_all
from tests.kafka_tools import eventually, publish

SERVICES = ("followup", "complaints", "notifications", "console")
RUN = uuid.uuid4().hex[:6].upper()
NURSE = f"N-{RUN}"
DEPT = f"R{RUN}"
PORTER = f"P-{RUN}"  # another department's, with no calls
PORTER_DEPT = f"Q{RUN}"
AGENT = f"G-{RUN}"  # an agent made operations, holding a call, a case and an enquiry
AGENT_DEPT = f"G{RUN}"
MOVER = f"M-{RUN}"  # an agent moved to another department, holding the same
MOVER_DEPT, TARGET_DEPT = f"M{RUN}", f"K{RUN}"


@pytest.fixture(scope="module")
def stack(stack_config, stack_env) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    with running_all(stack_config, SERVICES, {}) as services:
        yield services


async def on_roster(stack: dict[str, RunningService], staff_id: str) -> dict[str, Any]:
    """The member as follow-up has them (the API the screen calls)."""
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.get(
            f"{stack['followup'].url}/v1/staff/{staff_id}",
            headers={"Authorization": "Bearer dev-admin-token"},
        )
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def task_of(stack: dict[str, RunningService], task_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.get(
            f"{stack['followup'].url}/v1/tasks/{task_id}",
            headers={"Authorization": "Bearer dev-admin-token"},
        )
    found: dict[str, Any] = resp.json()
    return found


async def a_call_for_the_nurse(stack: dict[str, RunningService], stack_env: dict[str, str]) -> str:
    """A discharge from the nurse's department: its call is hers (its one active member)."""
    n = uuid.uuid4().int % 10**8
    event = discharge(n, department={"code": DEPT, "name": "测试科"})
    await publish(stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.DISCHARGES,
                  [(event["subject"], to_bytes(event))])  # fmt: skip

    async def hers() -> bool:
        return (await on_roster(stack, NURSE))["open_tasks"] == 1

    await eventually(hers, timeout=30, interval=0.3)
    return f"FU-A{n:06d}"


async def ask_to_deactivate(page: Page, stack: dict[str, RunningService]) -> None:
    """The nurse's 停用 on the roster (her department's): the confirmation, nothing posted."""
    await page.goto(f"{stack['console'].url}/staff?department={DEPT}")
    async with page.expect_navigation():
        await page.click(f"a[href^='/staff?deactivate={NURSE}&']")


async def save(page: Page) -> None:
    async with page.expect_navigation():
        await page.click("button[name='do'][value='save']")


async def test_operations_add_edit_and_deactivate_a_nurse_on_the_roster_screen(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    page = await page_as(browser, stack, stack_env, "dev-admin-token")
    await page.goto(f"{stack['console'].url}/")
    await page.click("nav >> text=人员名单")
    assert await page.inner_text("h1") == "人员名单"
    assert "S-AGENT-01" in await page.inner_text("#h-roster + form + p + .table-wrap")
    await page.fill("#m-staff_id", NURSE)
    await page.fill("#m-name", "护士 陈静")
    await page.fill("#m-department_code", DEPT)
    await page.fill("#m-capacity", "三十")  # the console's own check
    await page.fill("#m-phone", "13912345678")
    await save(page)
    assert "姓名" not in await page.inner_text("#staff-errors")
    assert (
        await page.inner_text("#err-capacity") and await page.input_value("#m-name") == "护士 陈静"
    )
    assert await page.get_attribute("#m-capacity", "aria-describedby") == "err-capacity"
    await page.fill("#m-capacity", "30")
    await page.fill("#m-name", " ")  # follow-up's check: a name is needed
    await save(page)
    assert await page.inner_text("#err-name")
    assert await page.input_value("#m-phone") == "13912345678"
    assert await page.input_value("#m-capacity") == "30"
    await screenshot(page, "staff-errors")
    await page.fill("#m-name", "护士 陈静")
    await save(page)
    assert f"已保存：{NURSE} 护士 陈静" in await page.inner_text("p.flash")
    assert (await on_roster(stack, NURSE))["capacity"] == 30
    assert await has_no_horizontal_scroll(page)
    await screenshot(page, "staff-saved")

    await page.goto(f"{stack['console'].url}/staff?department={DEPT}")
    async with page.expect_navigation():
        await page.click(f"a[href='/staff?edit={NURSE}']")
    assert await page.inner_text("#h-form") == "修改人员"
    assert await page.get_attribute("#m-staff_id", "readonly") is not None
    await page.fill("#m-capacity", "25")
    await save(page)
    assert (await on_roster(stack, NURSE))["capacity"] == 25
    task_id = await a_call_for_the_nurse(stack, stack_env)
    await ask_to_deactivate(page, stack)
    assert await page.inner_text("#h-confirm") == f"确认停用 {NURSE} 护士 陈静？"
    assert await page.evaluate("document.activeElement.id") == "h-confirm"
    calls = await page.inner_text("#confirm-calls")
    assert "未完成的回访电话：1 个" in calls and f"科室 {DEPT} 的在岗人员" in calls
    assert "未结投诉案件：0 件" in await page.inner_text("#confirm-cases")
    assert (await on_roster(stack, NURSE))["active"] is True  # nothing is sent by asking
    assert await has_no_horizontal_scroll(page)
    await screenshot(page, "staff-deactivate-confirm")
    async with page.expect_navigation():
        await page.click("#deactivate-confirm >> text=取消")
    assert await page.locator("#deactivate-confirm").count() == 0
    await ask_to_deactivate(page, stack)  # a form from before the question: asked again
    await page.evaluate("document.querySelector('input[name=confirmed]').remove()")
    async with page.expect_navigation():
        await page.click("button[name='do'][value='deactivate']")
    assert await page.inner_text("#h-confirm") == f"确认停用 {NURSE} 护士 陈静？"
    assert (await on_roster(stack, NURSE))["active"] is True
    async with page.expect_navigation():
        await page.click("button[name='do'][value='deactivate']")
    assert "（停用）；其未完成的回访电话 1 个已退回待分派。" in await page.inner_text("p.flash")
    member = await on_roster(stack, NURSE)
    assert (member["active"], member["capacity"], member["name"]) == (False, 25, "护士 陈静")
    assert member["open_tasks"] == 0
    assert (await task_of(stack, task_id))["assignee_id"] != NURSE
    await screenshot(page, "staff-deactivated")


async def edit_porter_unticking_active(page: Page, stack: dict[str, RunningService]) -> None:
    """The porter's edit form: a new capacity and phone, 在岗 unticked, saved."""
    await page.goto(f"{stack['console'].url}/staff?edit={PORTER}")
    await page.fill("#m-capacity", "12")
    await page.fill("#m-phone", "13800001111")
    await page.uncheck("input[name='active']")
    await save(page)


async def test_unticking_在岗_in_the_edit_form_asks_first_and_confirming_saves_the_whole_edit(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    """Before, 在岗 unticked and saved deactivated a member without the 停用 confirmation (her
    open calls handed back unasked), and the saved message spoke of handed-back calls even when
    she had none."""
    page = await page_as(browser, stack, stack_env, "dev-admin-token")
    await page.goto(f"{stack['console'].url}/staff")
    await page.fill("#m-staff_id", PORTER)
    await page.fill("#m-name", "护工 李强")
    await page.fill("#m-department_code", PORTER_DEPT)
    await page.fill("#m-capacity", "10")
    await save(page)
    assert (await on_roster(stack, PORTER))["active"] is True
    await edit_porter_unticking_active(page, stack)
    member = await on_roster(stack, PORTER)
    assert (member["active"], member["capacity"], member["phone"]) == (True, 10, None)
    assert await page.inner_text("#h-confirm") == f"确认停用 {PORTER} 护工 李强？"
    assert await page.evaluate("document.activeElement.id") == "h-confirm"
    calls = await page.inner_text("#confirm-calls")
    assert "未完成的回访电话：0 个" in calls and f"科室 {PORTER_DEPT} 的在岗人员" in calls
    assert "未结投诉案件：0 件" in await page.inner_text("#confirm-cases")
    assert await page.input_value("#m-capacity") == "12"  # the form below, as typed
    assert await has_no_horizontal_scroll(page)
    await screenshot(page, "staff-edit-deactivate-confirm")
    async with page.expect_navigation():
        await page.click("#deactivate-confirm >> text=取消")
    assert await page.inner_text("#h-form") == "修改人员"
    assert await page.is_checked("input[name='active']")
    member = await on_roster(stack, PORTER)
    assert (member["active"], member["capacity"]) == (True, 10)  # cancelling changed nothing
    await edit_porter_unticking_active(page, stack)  # the question's form without its answer:
    await page.evaluate("document.querySelector('input[name=confirmed]').remove()")
    async with page.expect_navigation():  # the server asks again, and saves nothing
        await page.click("#deactivate-confirm button[name='do']")
    assert await page.inner_text("#h-confirm") == f"确认停用 {PORTER} 护工 李强？"
    assert (await on_roster(stack, PORTER))["active"] is True
    async with page.expect_navigation():
        await page.click("#deactivate-confirm button[name='do']")
    flash = await page.inner_text("p.flash")  # no calls were handed back: no word of them
    assert flash == f"已保存：{PORTER} 护工 李强（停用）"
    member = await on_roster(stack, PORTER)
    assert (member["active"], member["capacity"], member["phone"]) == (False, 12, "+8613800001111")
    await screenshot(page, "staff-edit-deactivated")


async def test_the_roster_screen_in_english_and_only_for_operations(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    page = await page_as(browser, stack, stack_env, "dev-admin-token", lang="en")
    await page.goto(f"{stack['console'].url}/staff")
    assert await page.inner_text("h1") == "Staff roster"
    assert "Add a member" in await page.inner_text("#h-form")
    await screenshot(page, "staff-en")
    await page.goto(f"{stack['console'].url}/staff?deactivate=S-AGENT-01#h-confirm")
    assert (await page.inner_text("#h-confirm")).startswith("Deactivate S-AGENT-01 ")
    assert await page.evaluate("document.activeElement.id") == "h-confirm"
    assert "go back to be assigned" in await page.inner_text("#confirm-calls")
    assert "Open complaint cases they handle:" in await page.inner_text("#confirm-cases")
    await screenshot(page, "staff-deactivate-confirm-en")
    async with page.expect_navigation():
        await page.click("#deactivate-confirm >> text=Cancel")
    assert (await on_roster(stack, "S-AGENT-01"))["active"] is True
    sup = await page_as(browser, stack, stack_env, "dev-supervisor-token")
    await sup.goto(f"{stack['console'].url}/")
    assert "人员名单" not in await sup.inner_text("nav")
    refused = await sup.goto(f"{stack['console'].url}/staff")
    assert refused is not None and refused.status == 403
    assert "人员名单由运营部门维护" in await sup.inner_text("main")
    await screenshot(sup, "staff-refused")


FILLERS = [f"Y-{RUN}-{i:03d}" for i in range(501)]  # more than the 500 the screen once read
LATE = f"ZZ-{RUN}"  # after all of them by staff id
LATE_DEPT = f"Z{RUN}"


async def put_member(
    client: httpx.AsyncClient, stack: dict[str, RunningService], staff_id: str, **body: Any
) -> None:
    member = {"name": f"测试 {staff_id[-3:]}", "department_code": LATE_DEPT, "role": "agent",
              "capacity": 0, "active": False} | body  # fmt: skip
    resp = await client.put(
        f"{stack['followup'].url}/v1/staff/{staff_id}", json=member,
        headers={"Authorization": "Bearer dev-admin-token"},
    )  # fmt: skip
    assert resp.status_code == 200, resp.text


async def a_roster_of_more_than_500(stack: dict[str, RunningService]) -> None:
    """501 inactive members (they take no work) before LATE, an active nurse, by staff id."""
    gate = asyncio.Semaphore(8)

    async def one(client: httpx.AsyncClient, staff_id: str) -> None:
        async with gate:
            await put_member(client, stack, staff_id)

    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(one(client, s) for s in FILLERS))
        await put_member(client, stack, LATE, name="护士 赵敏", capacity=20, active=True)


async def test_a_member_beyond_the_first_500_is_found_paged_to_edited_and_asked_before_deactivating(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    """Before, the screen read only follow-up's first 500 members: LATE was on no page, her
    edit link opened an empty 添加人员 form, and her edit form with 在岗 unticked deactivated
    her without the confirmation (it looked her up in those 500)."""
    await a_roster_of_more_than_500(stack)
    page = await page_as(browser, stack, stack_env, "dev-admin-token")
    await page.goto(f"{stack['console'].url}/staff?department={LATE_DEPT}")
    assert await page.locator("#h-roster + form + p + .table-wrap tbody tr").count() == 100
    for n in range(2, 7):  # 100 a page: LATE is the 502nd, on the sixth
        async with page.expect_navigation():
            await page.click("nav.pager >> text=下一页")
        assert f"第 {n}" in await page.inner_text("nav.pager")
    assert LATE in await page.inner_text(".table-wrap")
    assert await page.locator("nav.pager >> text=下一页").count() == 0
    assert await page.locator("nav.pager >> text=上一页").count() == 1
    assert await has_no_horizontal_scroll(page)
    await screenshot(page, "staff-last-page")
    await page.goto(f"{stack['console'].url}/staff")
    await page.fill("#s-q", "护士 赵敏")  # the whole name: other tests put a 赵敏 on the roster too
    async with page.expect_navigation():
        await page.click("form.filters button")
    assert [LATE] == [
        (await row.inner_text()).split("\t")[0]
        for row in await page.locator(".table-wrap tbody tr").all()
    ]
    await screenshot(page, "staff-search")
    async with page.expect_navigation():
        await page.click(f"a[href='/staff?edit={LATE}']")
    assert await page.inner_text("#h-form") == "修改人员"
    assert await page.input_value("#m-name") == "护士 赵敏"
    await page.uncheck("input[name='active']")
    await save(page)
    assert await page.inner_text("#h-confirm") == f"确认停用 {LATE} 护士 赵敏？"
    assert (await on_roster(stack, LATE))["active"] is True  # asked, nothing saved
    await screenshot(page, "staff-late-member-confirm")
    async with page.expect_navigation():
        await page.click("#deactivate-confirm button[name='do']")
    assert await page.inner_text("p.flash") == f"已保存：{LATE} 护士 赵敏（停用）"
    assert (await on_roster(stack, LATE))["active"] is False


async def test_the_roster_pages_in_english(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    page = await page_as(browser, stack, stack_env, "dev-admin-token", lang="en")
    await page.goto(f"{stack['console'].url}/staff?department={LATE_DEPT}")
    if await page.locator("nav.pager").count() == 0:  # run alone: make the roster first
        await a_roster_of_more_than_500(stack)
        await page.reload()
    assert "By staff ID: 100 on this page" in await page.inner_text("#roster-shown")
    assert "Next" in await page.inner_text("nav.pager")
    assert await page.get_attribute("#s-q", "type") == "search"
    await screenshot(page, "staff-pages-en")


async def case_holder(stack: dict[str, RunningService], case_number: str) -> str | None:
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.get(
            f"{stack['complaints'].url}/v1/cases/{case_number}",
            headers={"Authorization": "Bearer dev-admin-token"},
        )
    assert resp.status_code == 200, resp.text
    holder: str | None = resp.json()["assignee_id"]
    return holder


async def complaints_api(
    stack: dict[str, RunningService], stack_env: dict[str, str], path: str, body: dict[str, Any]
) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(
            f"{stack['complaints'].url}{path}", json=body,
            headers={"Authorization": f"Bearer {stack_env['TOKEN_AGENT']}"},
        )  # fmt: skip


async def an_agent_with_a_call_a_case_and_an_enquiry(
    stack: dict[str, RunningService], stack_env: dict[str, str], agent: str = AGENT,
    dept: str = AGENT_DEPT,
) -> tuple[str, str, str]:  # fmt: skip
    """The agent on the roster, the only member of her department: an enquiry handed over to her
    (once complaints has her on its roster), a case of her department and a discharge's call,
    each hers; (task id, case number, enquiry number)."""
    async with httpx.AsyncClient(timeout=10) as client:
        member = {"name": "客服 周琳", "department_code": dept, "role": "agent",
                  "capacity": 20}  # fmt: skip
        resp = await client.put(
            f"{stack['followup'].url}/v1/staff/{agent}", json=member,
            headers={"Authorization": "Bearer dev-admin-token"},
        )  # fmt: skip
    assert resp.status_code == 200, resp.text
    about = {"code": dept, "name": "测试科"}
    taken = await complaints_api(stack, stack_env, "/v1/enquiries", {
        "channel": "phone", "question": "复查需要空腹吗", "department": about})  # fmt: skip
    number = taken.json()["enquiry_number"]

    async def handed_to_her() -> bool:
        handover = {"to": agent, "reason": "由本科室答复"}
        path = f"/v1/enquiries/{number}/handover"
        return (await complaints_api(stack, stack_env, path, handover)).status_code == 200

    await eventually(handed_to_her, timeout=30, interval=0.3)
    opened = await complaints_api(stack, stack_env, "/v1/cases", {
        "channel": "phone", "description": "候诊排队等了三个小时", "department": about})  # fmt: skip
    case_number = opened.json()["case_number"]
    assert await case_holder(stack, case_number) == agent
    n = uuid.uuid4().int % 10**8
    event = discharge(n, department=about)
    await publish(stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.DISCHARGES,
                  [(event["subject"], to_bytes(event))])  # fmt: skip

    async def her_call() -> bool:
        return (await on_roster(stack, agent))["open_tasks"] == 1

    await eventually(her_call, timeout=30, interval=0.3)
    return f"FU-A{n:06d}", case_number, number


async def her_case_and_enquiry_counted_then_cancelled(page: Page, shot: str) -> None:
    """The English confirmation counts her case and enquiry; its screenshot; 取消 (Cancel)."""
    cases = await page.inner_text("#confirm-cases")
    assert "Open complaint cases they handle: 1" in cases
    assert "Open enquiries they own: 1" in cases
    assert await has_no_horizontal_scroll(page)
    await screenshot(page, shot)
    async with page.expect_navigation():
        await page.click("#deactivate-confirm >> text=Cancel")


async def her_case_and_enquiry_counted_then_confirmed(page: Page, shot: str) -> str:
    """The Chinese confirmation counts her case and enquiry (and nothing she supervises); its
    screenshot; confirmed: the saved message."""
    cases = await page.inner_text("#confirm-cases")
    assert "其处理的未结投诉案件：1 件" in cases and "其负责的未答复咨询：1 件" in cases
    assert "其督办的未结投诉案件：0 件" in cases
    assert await has_no_horizontal_scroll(page)
    await screenshot(page, shot)
    async with page.expect_navigation():
        await page.click("#deactivate-confirm button[name='do']")
    return await page.inner_text("p.flash")


async def make_operations(page: Page, stack: dict[str, RunningService]) -> None:
    """The agent's edit form with the role operations (运营部), saved."""
    await page.goto(f"{stack['console'].url}/staff?edit={AGENT}")
    await page.select_option("#m-role", "admin")
    await save(page)


async def test_making_an_agent_operations_asks_first_saying_what_she_hands_back(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    """Before, a role change was saved at once and the agent's open call, complaint case and
    enquiry were handed back unasked (or, for the call, not at all). Now the edit asks, in
    either language, counting each as the services will hand it back; confirming saves it."""
    task_id, case_number, _ = await an_agent_with_a_call_a_case_and_an_enquiry(stack, stack_env)
    english = await page_as(browser, stack, stack_env, "dev-admin-token", lang="en")
    await make_operations(english, stack)
    assert await english.inner_text("#h-confirm") == (
        f"Change the role of {AGENT} 客服 周琳 to Operations?"
    )
    assert "that the new role may not make: 1." in await english.inner_text("#confirm-calls")
    await her_case_and_enquiry_counted_then_cancelled(english, "staff-role-change-confirm-en")
    assert (await on_roster(stack, AGENT))["role"] == "agent"  # asking saved nothing

    page = await page_as(browser, stack, stack_env, "dev-admin-token")
    await make_operations(page, stack)
    assert await page.inner_text("#h-confirm") == f"确认将 {AGENT} 客服 周琳 的角色改为运营部？"
    assert await page.evaluate("document.activeElement.id") == "h-confirm"
    assert "新角色不能拨打的：1 个" in await page.inner_text("#confirm-calls")
    flash = await her_case_and_enquiry_counted_then_confirmed(page, "staff-role-change-confirm")
    assert flash == f"已保存：{AGENT} 客服 周琳；新角色不能拨打的回访电话 1 个已退回待分派。"
    member = await on_roster(stack, AGENT)
    assert (member["role"], member["active"], member["open_tasks"]) == ("admin", True, 0)
    assert (await task_of(stack, task_id))["assignee_id"] != AGENT
    await screenshot(page, "staff-role-changed")

    async def case_handed_back() -> bool:
        return await case_holder(stack, case_number) != AGENT

    await eventually(case_handed_back, timeout=30, interval=0.3)


async def move_to_another_department(page: Page, stack: dict[str, RunningService]) -> None:
    """The agent's edit form with another department code, saved."""
    await page.goto(f"{stack['console'].url}/staff?edit={MOVER}")
    await page.fill("#m-department_code", TARGET_DEPT)
    await save(page)


async def test_moving_an_agent_to_another_department_asks_first_saying_what_she_hands_back(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    """Before, a move to another department was saved at once, asking nothing, and the agent
    kept her old department's call, case and enquiry. Now the edit asks, in either language,
    counting each as the services will hand it back; confirming saves the move and hands them
    back to the old department (its queue, else the desk's)."""
    task_id, case_number, enquiry_number = await an_agent_with_a_call_a_case_and_an_enquiry(
        stack, stack_env, MOVER, MOVER_DEPT
    )
    english = await page_as(browser, stack, stack_env, "dev-admin-token", lang="en")
    await move_to_another_department(english, stack)
    assert await english.inner_text("#h-confirm") == (
        f"Move {MOVER} 客服 周琳 to department {TARGET_DEPT}?"
    )
    assert f"that are not department {TARGET_DEPT}'s: 1." in (
        await english.inner_text("#confirm-calls")
    )
    await her_case_and_enquiry_counted_then_cancelled(english, "staff-department-change-confirm-en")
    assert (await on_roster(stack, MOVER))["department_code"] == MOVER_DEPT  # asked, not saved

    page = await page_as(browser, stack, stack_env, "dev-admin-token")
    await move_to_another_department(page, stack)
    assert (
        await page.inner_text("#h-confirm") == f"确认将 {MOVER} 客服 周琳 调往科室 {TARGET_DEPT}？"
    )
    assert await page.evaluate("document.activeElement.id") == "h-confirm"
    assert f"不属于科室 {TARGET_DEPT} 的：1 个" in await page.inner_text("#confirm-calls")
    flash = await her_case_and_enquiry_counted_then_confirmed(
        page, "staff-department-change-confirm"
    )
    assert flash == f"已保存：{MOVER} 客服 周琳；不属于新科室的回访电话 1 个已退回待分派。"
    member = await on_roster(stack, MOVER)
    assert (member["department_code"], member["active"], member["open_tasks"]) == (
        TARGET_DEPT, True, 0,
    )  # fmt: skip
    assert (await task_of(stack, task_id))["assignee_id"] != MOVER
    await screenshot(page, "staff-department-changed")

    async def handed_back() -> bool:
        return await case_holder(stack, case_number) != MOVER

    await eventually(handed_back, timeout=30, interval=0.3)
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.get(
            f"{stack['complaints'].url}/v1/enquiries/{enquiry_number}",
            headers={"Authorization": "Bearer dev-admin-token"},
        )
    assert resp.json()["owner_id"] != MOVER
