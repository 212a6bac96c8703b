"""The console's forms when a service they only read beside the one they post to does not
answer: here the follow-up service (the staff directory the praise form names colleagues
from) is not started. Recording praise or a suggestion at the complaints service must still
work: the form is shown (no list of colleagues), a suggestion naming nobody is recorded, and
what was typed is never lost (it was the 503 page, on the form's GET and on its POST)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser

from tests.browser import as_operations, page_as, screenshot, send
from tests.integration.services import RunningService, running_all

SERVICES = ("complaints", "console")
RUN = uuid.uuid4().hex[:6].upper()


@pytest.fixture(scope="module")
def stack(stack_config, stack_env) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    with running_all(stack_config, SERVICES, {}) as services:
        yield services


async def test_feedback_is_recorded_while_the_staff_directory_does_not_answer(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    page = await page_as(browser, stack, stack_env, "dev-agent-token")
    await page.goto(f"{stack['console'].url}/feedback/new?kind=suggestion")
    assert await page.inner_text("h1") == "登记表扬或建议"
    await page.check("input[name='channel'][value='suggestion_box']")
    text = f"建议门诊大厅增加座椅 {RUN}"
    await page.fill("#c-text", text)
    await send(page, "button[value='record']")
    assert "/feedback?recorded=" in page.url, await page.inner_text("main")
    number = await page.inner_text(".flash a")
    assert (await as_operations(stack["complaints"].url, f"/v1/feedback/{number}"))["text"] == text
    await screenshot(page, "feedback-without-directory")
