"""Staff ids typed as a Chinese input method types them (full-width `Ｓ－ＡＧＥＮＴ－０１`), on the
real stack: the roster's saves took them as `S-AGENT-01`, but the look-ups did not, so the
roster's edit link and the praise form's colleague field found nobody. Now a look-up finds
the member a save would have saved.

Screenshots go to test-artifacts/screenshots/ (1366x768)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser

from tests.browser import as_operations, page_as, screenshot, send
from tests.integration.services import RunningService, running_all

SERVICES = ("followup", "complaints", "notifications", "console")
RUN = uuid.uuid4().hex[:6].upper()


@pytest.fixture(scope="module")
def stack(stack_config, stack_env) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    with running_all(stack_config, SERVICES, {}) as services:
        yield services


async def test_the_roster_finds_a_member_by_a_full_width_id(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    page = await page_as(browser, stack, stack_env, "dev-admin-token")
    await page.goto(f"{stack['console'].url}/staff?edit=Ｓ－ＡＧＥＮＴ－０１")
    assert await page.inner_text("#h-form") == "修改人员"
    assert await page.input_value("#m-staff_id") == "S-AGENT-01"
    assert await page.input_value("#m-name") == "客服 王芳"
    await screenshot(page, "staff-edit-full-width-id")


async def test_praise_names_a_colleague_by_a_full_width_id(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    page = await page_as(browser, stack, stack_env, "dev-agent-token")
    await page.goto(f"{stack['console'].url}/feedback/new?kind=praise")
    await page.check("input[name='channel'][value='phone']")
    await page.select_option("#c-category", "nursing_care")
    await page.fill("#c-staff_id", " Ｓ－ＤＯＣ－０１ ")
    await page.fill("#c-patient_name", "周雨")
    await page.fill("#c-patient_phone", "13912340000")
    await page.fill("#c-text", f"李医生很耐心，谢谢！{RUN}")
    await send(page, "button[value='record']")
    assert "/feedback?recorded=" in page.url, await page.inner_text("main")
    number = await page.inner_text(".flash a")
    recorded = await as_operations(stack["complaints"].url, f"/v1/feedback/{number}")
    assert recorded["staff_id"] == "S-DOC-01"
    await screenshot(page, "feedback-full-width-colleague")
