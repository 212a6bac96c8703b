"""The praise and suggestions screens (表扬与建议) on the real stack: before them, staff had no
way to record praise or a suggestion, or to answer a suggestion, but hand-made calls to the
complaints service's API, though both are feedback the hospitals take on every channel.

- an agent records praise of a doctor by phone (a relative's name without a phone is refused
  beside the phone, what was typed kept), and it is on the list; she records an anonymous
  suggestion from the suggestion box, 待答复 on the list; the desk's supervisor answers it
  (adopted) on its page, and a second answer from a page opened before is refused beside the
  form in Chinese, the text typed kept, the first answer standing;
- in English, a category of the other kind is refused beside the field, then the suggestion is
  recorded and the list filtered to suggestions shows it awaiting an answer.

The complaints service's own answers are checked beside the screens. Screenshots go to
test-artifacts/screenshots/ (1366x768)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from tests.browser import as_operations, has_no_horizontal_scroll, page_as, screenshot, send
from tests.integration.services import RunningService, running_all

SERVICES = ("followup", "complaints", "notifications", "console")
RUN = uuid.uuid4().hex[:6].upper()
ADMIN = {"Authorization": "Bearer dev-admin-token"}


@pytest.fixture(scope="module")
def stack(stack_config, stack_env) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    with running_all(stack_config, SERVICES, {}) as services:
        yield services


async def feedback_of(stack: dict[str, RunningService], number: str) -> dict[str, Any]:
    """The praise or suggestion as the complaints service has it (operations read every one)."""
    return await as_operations(stack["complaints"].url, f"/v1/feedback/{number}")


async def recorded_number(page: Page) -> str:
    """The number the list's flash names after a recording."""
    assert "/feedback?recorded=" in page.url
    return await page.inner_text(".flash a")


async def test_praise_and_a_suggestion_recorded_and_the_supervisor_answers_it_once(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    page = await page_as(browser, stack, stack_env, "dev-agent-token")
    await page.goto(f"{stack['console'].url}/")
    await send(page, "nav >> text=表扬与建议")
    assert await page.inner_text("h1") == "表扬与建议"
    await send(page, "a.button:has-text('登记表扬或建议')")
    await page.check("input[name='channel'][value='phone']")
    await page.select_option("#c-category", "nursing_care")
    await page.fill("#c-staff_id", "S-DOC-01")
    await page.fill("#c-patient_name", "周雨")  # a relative: no patient id, and no phone
    praise = f"李医生和护士们照顾得很周到，谢谢！{RUN}"
    await page.fill("#c-text", praise)
    await send(page, "button[value='record']")
    assert await page.get_attribute("#c-patient_phone", "aria-invalid") == "true"
    assert await page.inner_text("#err-patient_phone") == "必填"
    assert await page.input_value("#c-patient_name") == "周雨"  # kept
    assert await page.input_value("#c-text") == praise
    await screenshot(page, "feedback-refused")
    await page.fill("#c-patient_phone", "13912340000")
    await send(page, "button[value='record']")
    number = await recorded_number(page)
    assert "已登记" in await page.inner_text(".flash")
    row = await page.inner_text(f"tr:has(a[href='/feedback/{number}'])")
    assert all(w in row for w in ("表扬", "电话", "护理服务", "S-DOC-01", "S-AGENT-01")), row
    recorded = await feedback_of(stack, number)
    assert (recorded["kind"], recorded["channel"], recorded["category"]) == (
        "praise", "phone", "nursing_care",
    )  # fmt: skip
    assert (recorded["staff_id"], recorded["text"]) == ("S-DOC-01", praise)
    # a relative without a patient id, masked to operations
    assert (recorded["patient"]["patient_id"], recorded["patient"]["phone"]) == (
        None, "+86139****0000",
    )  # fmt: skip

    await page.goto(f"{stack['console'].url}/feedback/new?kind=suggestion")
    await page.check("input[name='channel'][value='suggestion_box']")
    await page.select_option("#c-category", "facilities")
    await page.fill("#c-department_code", "CS")
    suggestion = f"建议门诊大厅增加自助缴费机。{RUN}"
    await page.fill("#c-text", suggestion)
    await send(page, "button[value='record']")
    suggested = await recorded_number(page)
    row = await page.inner_text(f"tr:has(a[href='/feedback/{suggested}'])")
    assert all(w in row for w in ("建议", "意见箱", "设施设备", "客户服务中心", "待答复")), row
    assert await has_no_horizontal_scroll(page)
    await screenshot(page, "feedback-list")

    supervisor = await page_as(browser, stack, stack_env, "dev-supervisor-token")
    stale = await page_as(browser, stack, stack_env, "dev-supervisor-token")
    for p in (supervisor, stale):
        await p.goto(f"{stack['console'].url}/feedback/{suggested}")
    assert await supervisor.inner_text("#feedback-state") == "待答复"
    await supervisor.check("input[name='outcome'][value='adopted']")
    await supervisor.fill("#answer-text", "已在一楼大厅增设两台自助缴费机。")
    await send(supervisor, "#answer-form button")
    assert "答复已保存" in await supervisor.inner_text(".flash")
    assert await supervisor.inner_text("#feedback-state") == "已采纳"
    assert await supervisor.locator("#answer-form").count() == 0  # answered once
    answered = await feedback_of(stack, suggested)
    assert (answered["outcome"], answered["answered_by"]) == ("adopted", "S-SUP-01")
    assert answered["answer"] == "已在一楼大厅增设两台自助缴费机。"
    await screenshot(supervisor, "feedback-answered")

    await stale.check("input[name='outcome'][value='not_adopted']")
    await stale.fill("#answer-text", "暂不采纳")
    await send(stale, "#answer-form button")
    assert "该建议已答复过，不能再次答复" in await stale.inner_text("#refusal")
    assert await stale.input_value("#answer-text") == "暂不采纳"  # kept
    assert await stale.is_checked("input[name='outcome'][value='not_adopted']")
    assert await stale.inner_text("#feedback-state") == "已采纳"  # the page as it is now
    assert (await feedback_of(stack, suggested))["outcome"] == "adopted"  # the first stands
    await screenshot(stale, "feedback-answer-refused")

    await supervisor.goto(f"{stack['console'].url}/feedback?kind=suggestion")
    row = await supervisor.inner_text(f"tr:has(a[href='/feedback/{suggested}'])")
    assert "已采纳" in row and "已在一楼大厅" in row


async def test_a_suggestion_recorded_in_english_after_a_category_of_the_other_kind(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    page = await page_as(browser, stack, stack_env, "dev-agent-token", lang="en")
    await page.goto(f"{stack['console'].url}/feedback/new")
    assert await page.inner_text("h1") == "Record praise or a suggestion"
    await page.check("input[name='kind'][value='suggestion']")
    await page.select_option("#c-category", "medical_skill")  # a category of praise
    key = await page.input_value("input[name='external_id']")
    text = f"Please put more seats in the waiting area. {RUN}"
    await page.fill("#c-text", text)
    await send(page, "button[value='record']")
    assert await page.inner_text("#err-category") == "not a category of the kind chosen"
    assert await page.input_value("#c-text") == text
    assert await page.input_value("#c-category") == "medical_skill"  # the choice kept
    # the form's own key goes with it again: a second press records what the first did
    assert await page.input_value("input[name='external_id']") == key
    await screenshot(page, "feedback-category-refused-en")
    await page.select_option("#c-category", "environment")
    await send(page, "button[value='record']")
    number = await recorded_number(page)
    assert (await feedback_of(stack, number))["category"] == "environment"
    await page.goto(f"{stack['console'].url}/feedback?kind=suggestion")
    row = await page.inner_text(f"tr:has(a[href='/feedback/{number}'])")
    assert "Suggestion" in row and "Environment" in row and "Awaiting an answer" in row
    await screenshot(page, "feedback-list-en")
