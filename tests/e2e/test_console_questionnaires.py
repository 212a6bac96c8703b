"""The survey questionnaires' screen (满意度问卷) on the real stack: before it, operations changed
what follow-up calls and SMS surveys ask with hand-made `PUT /v1/questionnaires/{kind}` calls.

- Operations open it from the menu (设置 → 满意度问卷): each kind's version in force with its
  aspects, each question in Chinese (what the patient reads) and English (for staff); they change the complaint follow-up questionnaire: a question added, moved up,
  its aspect left unchosen (the console's refusal beside it), then another question's text
  emptied: the notifications service's refusal beside that question's text, in Chinese,
  everything typed kept, nothing saved; corrected, it is saved as the next
  version: the kind's page saying so (a reload posts nothing), and the service's own
  `GET /v1/questionnaires` has the new version with the questions in the order given.
- In English, a title left empty is refused beside the title; a supervisor reads the
  questionnaires without a form.

- Two operators edit the same version: the second's save is refused, the form shown again
  with what was typed, naming the version now in force with a link to it (in Chinese and
  English); saved again after a look, it replaces that one.

The complaint follow-up's saved versions are forgotten before and after (other tests answer
its packaged version). Screenshots go to test-artifacts/screenshots/ (1366x768)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser

from tests.browser import (
    has_no_horizontal_scroll,
    open_setting,
    page_as,
    screenshot,
    send,
    submit,
)
from tests.integration.services import RunningService, forget_questionnaire_versions, running_all

SERVICES = ("notifications", "console")
KIND = "complaint_check"
ADMIN = {"Authorization": "Bearer dev-admin-token"}
ADDED = "医务人员对处理过程的解释是否清楚？"
ADDED_EN = "Did the staff explain clearly how your complaint was handled?"


async def forget_saved_versions(dsn: str) -> None:
    await forget_questionnaire_versions(dsn, KIND)


@pytest.fixture(scope="module")
async def stack(stack_config, stack_env) -> AsyncIterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    await forget_saved_versions(stack_env["DATABASE_URL"])
    with running_all(stack_config, SERVICES, {}) as services:
        yield services
    await forget_saved_versions(stack_env["DATABASE_URL"])


async def in_force(stack: dict[str, RunningService]) -> dict[str, Any]:
    """The complaint follow-up's questionnaire as notifications has it (the API the screen
    calls)."""
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.get(f"{stack['notifications'].url}/v1/questionnaires", headers=ADMIN)
    resp.raise_for_status()
    found: dict[str, Any] = next(q for q in resp.json()["items"] if q["kind"] == KIND)
    return found


async def test_operations_add_a_question_and_save_it_as_the_next_version_after_a_refusal(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    before = await in_force(stack)
    page = await page_as(browser, stack, stack_env, "dev-admin-token")
    assert await open_setting(page, stack["console"].url, "满意度问卷") == "满意度问卷"
    row = await page.inner_text(f"#qn-kind-{KIND}")
    assert f"第 {before['version']} 版" in row and "投诉处理" in row
    assert "挂号" in await page.inner_text("#qn-kind-outpatient_visit")
    await screenshot(page, "questionnaires-list")
    await send(page, f"#qn-kind-{KIND} >> text=修改")
    assert await page.input_value("#qn-text-0") == "您对投诉的处理结果是否满意？"
    await send(page, "#qn-add")  # a third question, at the end
    await page.fill("#qn-text-2", ADDED)
    await page.fill("#qn-text_en-2", ADDED_EN)
    await send(page, "#qn-q2 >> text=上移")  # now the second
    assert await page.input_value("#qn-text-1") == ADDED
    assert await page.input_value("#qn-text-2") == "您还有什么意见？"
    assert await page.is_visible("#qn-unsaved")
    await submit(page, "#qn-save")  # its aspect left unchosen: the console's own refusal
    assert await page.inner_text("#err-aspect-1") == "必填"
    assert "第 2 题" in await page.inner_text("#qn-errors")
    await page.select_option("#qn-aspect-1", "doctor")
    await page.check("#qn-required-1")
    await page.fill("#qn-text-2", "   ")  # the service's refusal: a question says something
    await submit(page, "#qn-save")
    assert await page.inner_text("#err-text-2") == "不能为空"
    assert await page.get_attribute("#qn-text-2", "aria-describedby") == "err-text-2"
    assert await page.input_value("#qn-text-1") == ADDED
    assert await page.input_value("#qn-aspect-1") == "doctor"
    assert "第 3 题" in await page.inner_text("#qn-errors")
    assert (await in_force(stack))["version"] == before["version"]  # nothing saved
    await screenshot(page, "questionnaires-refused")
    await page.fill("#qn-text-2", "您还有什么意见？")
    await submit(page, "#qn-save")
    version = before["version"] + 1
    assert page.url.endswith(f"/questionnaires?kind={KIND}&saved={version}#qn-saved")
    await page.reload()  # POST-redirect-GET: nothing posted again
    assert f"第 {version} 版" in await page.inner_text("#qn-saved")
    saved = await in_force(stack)
    assert saved["version"] == version
    assert [(q["id"], q["aspect"], q["text"], q["required"]) for q in saved["questions"]] == [
        ("handling", "complaint_handling", "您对投诉的处理结果是否满意？", True),
        ("q1", "doctor", ADDED, True),
        ("comments", "complaint_handling", "您还有什么意见？", False),
    ]
    assert saved["questions"][1]["text_en"] == ADDED_EN
    assert saved["questions"][0]["text_en"] == before["questions"][0]["text_en"]  # kept
    assert ADDED in await page.inner_text("#qn-row-q1")
    assert await has_no_horizontal_scroll(page)
    await screenshot(page, "questionnaires-saved")


async def test_the_questionnaires_in_english_and_read_only_for_a_supervisor(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    before = await in_force(stack)
    page = await page_as(browser, stack, stack_env, "dev-admin-token", lang="en")
    await page.goto(f"{stack['console'].url}/questionnaires?kind={KIND}&edit=1#h-form")
    assert await page.inner_text("h1") == "Survey questionnaires"
    await page.fill("#qn-title", "   ")
    await page.fill("#qn-text-0", "Was the outcome of your complaint satisfactory? (edited)")
    await submit(page, "#qn-save")
    assert await page.inner_text("#err-title") != ""
    assert await page.input_value("#qn-text-0") == (
        "Was the outcome of your complaint satisfactory? (edited)"
    )
    assert (await in_force(stack))["version"] == before["version"]
    await screenshot(page, "questionnaires-refused-en")
    await page.goto(f"{stack['console'].url}/questionnaires?kind=outpatient_visit")
    shown = await page.inner_text("#qn-current")
    assert "Registration" in shown and "挂号是否方便、顺畅？" in shown
    assert "Was registering easy and smooth?" in shown  # the question in English, for staff
    assert "Outpatient visits: " in await page.inner_text("#h-current")  # not "：" in English
    assert await has_no_horizontal_scroll(page)
    # operations' menu in English on one line: the signed-in part beside it, not under it
    top, who = page.locator("header.topbar nav"), page.locator("header.topbar .who")
    nav_box, who_box = await top.bounding_box(), await who.bounding_box()
    assert nav_box and who_box and who_box["y"] < nav_box["y"] + nav_box["height"], who_box
    await screenshot(page, "questionnaires-en")

    supervisor = await page_as(browser, stack, stack_env, "dev-supervisor-token")
    await supervisor.goto(f"{stack['console'].url}/questionnaires?kind={KIND}&edit=1")
    assert "满意度问卷" in await supervisor.inner_text("nav.subnav")
    assert await supervisor.locator("#qn-title").count() == 0  # no form
    assert "您还有什么意见？" in await supervisor.inner_text("#qn-current")


async def test_the_second_of_two_operators_editing_one_version_is_told_it_changed_meanwhile(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    before = await in_force(stack)
    edit = f"{stack['console'].url}/questionnaires?kind={KIND}&edit=1#h-form"
    first = await page_as(browser, stack, stack_env, "dev-admin-token")
    second = await page_as(browser, stack, stack_env, "dev-admin-token", lang="en")
    for page in (first, second):
        await page.goto(edit)
    await first.fill("#qn-title", "甲：投诉处理回访")
    await submit(first, "#qn-save")
    assert (await in_force(stack))["title"] == "甲：投诉处理回访"
    await second.fill("#qn-text-0", "Was the outcome satisfactory? (second operator)")
    await submit(second, "#qn-save")
    stale = await second.inner_text("#qn-stale")
    assert f"version {before['version'] + 1} is now in force" in stale, stale
    assert (
        await second.input_value("#qn-text-0") == "Was the outcome satisfactory? (second operator)"
    )
    assert (await in_force(stack))["title"] == "甲：投诉处理回访"  # the first's edits kept
    assert (
        await second.get_attribute("#qn-stale-see", "href")
        == f"/questionnaires?kind={KIND}#h-current"
    )
    await screenshot(second, "questionnaires-changed-meanwhile-en")
    host = urlsplit(stack["console"].url).hostname or "127.0.0.1"
    await second.context.add_cookies([{"name": "console_lang", "value": "zh", "domain": host,
                                       "path": "/"}])  # type: ignore[list-item]  # fmt: skip
    await first.goto(edit)
    await second.fill("#qn-title", "乙：投诉处理回访")  # on the page of the refusal
    await first.fill("#qn-title", "甲又改了")
    await submit(first, "#qn-save")
    await submit(second, "#qn-save")
    assert f"现行的是第 {before['version'] + 2} 版" in await second.inner_text("#qn-stale")
    await screenshot(second, "questionnaires-changed-meanwhile")
    await submit(second, "#qn-save")  # after a look: saved, replacing the one in force
    now = await in_force(stack)
    assert (now["version"], now["title"]) == (before["version"] + 3, "乙：投诉处理回访")
