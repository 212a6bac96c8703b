"""The SMS templates' screen (短信模板) on the real stack: a supervisor opens it from the menu (设置 → 短信模板),
edits the discharge safety notice with a placeholder the notifications service has no value
for, then with one only another template is given (its refusals beside the text, the text
kept; beside it only the placeholders this template's sender fills), corrects it and saves:
redirected to the template's page (a reload posts nothing), the saved message with the text
rendered with sample values and its SMS parts, and notifications' own `GET /v1/templates`
has the new text. In English, operations get the urgency box on a staff
template; an agent reads the templates without a menu entry or a form. The template's text is
put back at the end (other tests send SMS with it).

Screenshots go to test-artifacts/screenshots/ (1366x768)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page

from tests.browser import has_no_horizontal_scroll, open_setting, page_as, screenshot
from tests.integration.services import RunningService, running_all

SERVICES = ("followup", "complaints", "notifications", "console")
NAME = "discharge_safety_notice"
ADMIN = {"Authorization": "Bearer dev-admin-token"}
UNKNOWN = "【{{ hospital }}】{{ department }}提醒您：请于{{ bed }}床复查，如有不适请及时就医。回复退订不再接收"
OTHERS = "【{{ hospital }}】{{ department }}提醒您：案件{{ case_number }}已受理。回复退订不再接收"
FIXED = "【{{ hospital }}】{{ department }}提醒您：如有不适请及时就医，或致电{{ hotline }}。（屏幕测试）回复退订不再接收"


@pytest.fixture(scope="module")
def stack(stack_config, stack_env) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    with running_all(stack_config, SERVICES, {}) as services:
        yield services


async def templates_of(stack: dict[str, RunningService]) -> dict[str, dict[str, Any]]:
    """The templates as notifications has them (the API the screen calls)."""
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.get(
            f"{stack['notifications'].url}/v1/templates", params={"limit": 200}, headers=ADMIN
        )
    resp.raise_for_status()
    return {t["name"]: t for t in resp.json()["items"]}


@pytest.fixture
async def kept_text(stack: dict[str, RunningService]) -> AsyncIterator[str]:
    """The template's text before the test, put back after it."""
    original = (await templates_of(stack))[NAME]
    yield str(original["body"])
    body = {"body": original["body"], "send_to_deceased": original["send_to_deceased"]}
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.put(
            f"{stack['notifications'].url}/v1/templates/{NAME}", json=body, headers=ADMIN
        )
    resp.raise_for_status()


async def save(page: Page) -> None:
    async with page.expect_navigation():
        await page.click("form.intake button[type='submit']")


async def test_a_supervisor_corrects_a_refused_template_and_saves_it_with_its_preview(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str], kept_text: str
) -> None:
    page = await page_as(browser, stack, stack_env, "dev-supervisor-token")
    assert await open_setting(page, stack["console"].url, "短信模板") == "短信模板"
    assert kept_text in await page.inner_text(f"#tpl-{NAME}")
    async with page.expect_navigation():
        await page.click(f"a[href='/templates?edit={NAME}#h-form']")
    assert await page.input_value("#tpl-body") == kept_text
    shown = await page.inner_text("#tpl-placeholders")  # this template's own: not a case's
    assert "{{ hotline }}" in shown and "case_number" not in shown and "task_id" not in shown
    assert await page.locator("input[name='urgent']").count() == 0  # a patient template
    await page.fill("#tpl-body", UNKNOWN)
    await save(page)
    assert "不认识的占位符「bed」" in await page.inner_text("#err-body")
    assert await page.get_attribute("#tpl-body", "aria-describedby") == "err-body"
    assert await page.input_value("#tpl-body") == UNKNOWN
    assert (await templates_of(stack))[NAME]["body"] == kept_text  # nothing saved
    await screenshot(page, "templates-refused")
    await page.fill("#tpl-body", OTHERS)  # a placeholder another template is given
    await save(page)
    assert "没有占位符「case_number」的值" in await page.inner_text("#err-body")
    assert await page.input_value("#tpl-body") == OTHERS
    assert (await templates_of(stack))[NAME]["body"] == kept_text
    await screenshot(page, "templates-refused-not-given")
    await page.fill("#tpl-body", FIXED)
    await save(page)
    # POST-redirect-GET: the template's page, where a reload reads and posts nothing again
    assert page.url.endswith(f"/templates?edit={NAME}&saved=1#tpl-saved")
    saved_at = (await templates_of(stack))[NAME]["updated_at"]
    await page.reload()
    saved = await page.inner_text("#tpl-saved")
    assert "已保存：出院安全提示（discharge_safety_notice）" in saved
    assert "共 1 条短信" in saved
    preview = "【市第一人民医院】心内科提醒您：如有不适请及时就医，或致电0571-12345678。（屏幕测试）回复退订不再接收"
    assert await page.inner_text("#tpl-preview") == preview
    assert FIXED in await page.inner_text(f"#tpl-{NAME}")
    assert (await templates_of(stack))[NAME]["body"] == FIXED
    assert (await templates_of(stack))[NAME]["updated_at"] == saved_at  # not saved again
    assert await page.input_value("#tpl-body") == FIXED
    assert await has_no_horizontal_scroll(page)
    await screenshot(page, "templates-saved")


async def test_the_templates_screen_in_english_and_read_only_for_an_agent(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str], kept_text: str
) -> None:
    page = await page_as(browser, stack, stack_env, "dev-admin-token", lang="en")
    await page.goto(f"{stack['console'].url}/templates?edit=staff_monitoring_alert#h-form")
    assert await page.inner_text("h1") == "SMS templates"
    assert await page.locator("input[name='urgent']").count() == 1  # operations, staff template
    shown = await page.inner_text("#tpl-placeholders")
    assert "{{ alert }}" in shown and "case_number" not in shown and "appointment_time" not in shown
    await screenshot(page, "templates-en")
    await page.goto(f"{stack['console'].url}/templates?edit={NAME}#h-form")
    await page.fill("#tpl-body", UNKNOWN)
    await save(page)
    assert "unknown placeholder" in await page.inner_text("#err-body")
    assert await page.input_value("#tpl-body") == UNKNOWN
    await screenshot(page, "templates-refused-en")
    await page.fill("#tpl-body", OTHERS)
    await save(page)
    assert 'never sent with a value for "case_number"' in await page.inner_text("#err-body")
    await page.fill("#tpl-body", FIXED)
    await save(page)
    assert page.url.endswith(f"/templates?edit={NAME}&saved=1#tpl-saved")
    assert "1 SMS part(s)" in await page.inner_text("#tpl-saved")
    await screenshot(page, "templates-saved-en")

    agent = await page_as(browser, stack, stack_env, "dev-agent-token")
    await agent.goto(f"{stack['console'].url}/templates?edit={NAME}")
    assert "短信模板" not in await agent.inner_text("nav")
    assert await agent.locator("textarea").count() == 0
    assert FIXED in await agent.inner_text(
        f"#tpl-{NAME}"
    )  # operations' edit, before it is put back
