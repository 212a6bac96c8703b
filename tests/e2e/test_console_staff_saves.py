"""The staff roster's add and edit forms on the real stack, as the read-only prober found
them: "add a member" with 客服 王芳's id S-AGENT-01 overwrote her name, capacity and phone;
two tabs editing one member lost the first save; `/staff?edit=%2F` was a "Temporary Redirect"
page; and look-alike ids were added. Now the add is refused beside the id with a link to edit
her, the second tab is shown the member as she is now, an id with `/` is nobody, and a
look-alike id is refused, everything typed kept.

Screenshots go to test-artifacts/screenshots/ (1366x768)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser, Page

from tests.browser import page_as, screenshot
from tests.e2e.test_console_staff import on_roster
from tests.integration.services import RunningService, running_all

SERVICES = ("followup", "complaints", "notifications", "console")
RUN = uuid.uuid4().hex[:6].upper()
DEPT = f"E{RUN}"  # the members added take no calls of the other tests' departments


@pytest.fixture(scope="module")
def stack(stack_config, stack_env) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    with running_all(stack_config, SERVICES, {}) as services:
        yield services


async def add(page: Page, staff_id: str, name: str, capacity: str, phone: str) -> None:
    await page.fill("#m-staff_id", staff_id)
    await page.fill("#m-name", name)
    await page.fill("#m-department_code", DEPT)
    await page.fill("#m-capacity", capacity)
    await page.fill("#m-phone", phone)
    await save(page)


async def save(page: Page) -> None:
    async with page.expect_navigation():
        await page.click("button[name='do'][value='save']")


async def test_adding_an_id_on_the_roster_is_refused_beside_it_and_she_is_kept(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    before = await on_roster(stack, "S-AGENT-01")  # as other tests on the stack left her
    page = await page_as(browser, stack, stack_env, "dev-admin-token")
    await page.goto(f"{stack['console'].url}/staff")
    await add(page, "S-AGENT-01", "新人 李四", "3", "13911112222")
    assert "名单上已有工号 S-AGENT-01 的人员" in await page.inner_text("#err-staff_id")
    assert await page.input_value("#m-name") == "新人 李四"
    assert await page.input_value("#m-phone") == "13911112222"
    await screenshot(page, "staff-add-exists")
    wang = await on_roster(stack, "S-AGENT-01")
    assert (wang["name"], wang["capacity"], wang["phone"]) == (
        before["name"],
        before["capacity"],
        before["phone"],
    )  # nothing overwritten (it was: the add saved 新人 李四, 3, +8613911112222 over her)
    async with page.expect_navigation():
        await page.click("#exists-edit")
    assert await page.inner_text("#h-form") == "修改人员"
    assert await page.input_value("#m-name") == before["name"]
    english = await page_as(browser, stack, stack_env, "dev-admin-token", lang="en")
    await english.goto(f"{stack['console'].url}/staff")
    await add(english, "Ｓ-ＡＧＥＮＴ-０１", "New Li", "3", "")  # full-width: the same id
    assert "S-AGENT-01 is already on the roster" in await english.inner_text("#err-staff_id")
    assert (await english.inner_text("#exists-edit")).startswith("Edit this member")
    await screenshot(english, "staff-add-exists-en")


async def test_a_second_tab_saving_after_the_first_is_shown_the_member_as_she_is_now(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    staff_id = f"T-{RUN}"
    first = await page_as(browser, stack, stack_env, "dev-admin-token")
    await first.goto(f"{stack['console'].url}/staff")
    await add(first, staff_id, "护士 赵敏", "0", "")
    assert f"已保存：{staff_id} 护士 赵敏" in await first.inner_text("p.flash")
    second = await page_as(browser, stack, stack_env, "dev-admin-token")
    for tab in (first, second):
        await tab.goto(f"{stack['console'].url}/staff?edit={staff_id}")
    await first.fill("#m-name", "护士 赵敏（一）")
    await save(first)
    await second.fill("#m-name", "护士 赵敏（二）")
    await save(second)
    assert "在您打开表单后已被他人修改" in await second.inner_text("#staff-errors")
    assert "本页下方的表单已是其现在的信息" in await second.inner_text("#staff-stale")
    assert await second.input_value("#m-name") == "护士 赵敏（一）"
    await screenshot(second, "staff-edit-stale")
    assert (await on_roster(stack, staff_id))["name"] == "护士 赵敏（一）"
    await second.fill("#m-capacity", "2")  # the form now carries her version: it saves
    await save(second)
    member = await on_roster(stack, staff_id)
    assert (member["name"], member["capacity"], member["version"]) == ("护士 赵敏（一）", 2, 3)


async def test_ids_with_a_slash_and_look_alike_ids_are_refused_on_the_form(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    page = await page_as(browser, stack, stack_env, "dev-admin-token")
    for path in ("/staff?edit=%2F", "/staff?saved=%2F", "/templates?edit=%2F&saved=1"):
        shown = await page.goto(f"{stack['console'].url}{path}")
        assert shown is not None and shown.status == 200, path
        assert "Temporary Redirect" not in await page.inner_text("main"), path
    await page.goto(f"{stack['console'].url}/staff")
    for staff_id in ("S/NEW", "S-AGENT-01\u200b", "S NEW 01", ".."):
        await add(page, staff_id, "新人 李四", "3", "138😀")
        assert "工号只能由英文字母、数字和 - _ . 组成" in await page.inner_text("#err-staff_id")
        assert await page.input_value("#m-staff_id") == staff_id
    await page.fill("#m-staff_id", f"Ｐ-{RUN}")
    await save(page)  # the id is one now; the phone is not
    assert "不是有效的电话号码" in await page.inner_text("#err-phone")
    await screenshot(page, "staff-bad-phone")
    await page.fill("#m-phone", "139 1111 2222")
    await save(page)
    assert f"已保存：P-{RUN} 新人 李四" in await page.inner_text("p.flash")
    assert (await on_roster(stack, f"P-{RUN}"))["phone"] == "+8613911112222"
