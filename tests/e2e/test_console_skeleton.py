"""The console as a real process on the test stack: a signed-in person gets the start page in
Chinese (or English), readable at 1366x768; without a session, a page sends them to sign in."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.browser import console_context, has_no_horizontal_scroll, screenshot, signed_in
from tests.integration.services import RunningService, running


@pytest.fixture(scope="module")
def console(stack_config, stack_env) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    with running(stack_config, "console", {}) as service:
        yield service


async def test_without_a_session_a_page_sends_to_sign_in(console: RunningService) -> None:
    async with httpx.AsyncClient(base_url=console.url) as client:
        resp = await client.get("/?lang=zh")
    assert resp.status_code == 303
    assert resp.headers["location"] == "/login?next=/?lang=zh"


async def test_the_start_page_shows_the_agent_in_chinese_and_english(
    console: RunningService,
    stack_env,
    browser,  # type: ignore[no-untyped-def]
) -> None:
    session = await signed_in(stack_env["DATABASE_URL"], "dev-agent-token")
    context = await console_context(browser, console.url, session)
    page = await context.new_page()
    await page.goto(console.url + "/")
    assert await page.title() == "欢迎 · 患者服务工作台"
    assert "客服 王芳" in await page.inner_text("header")
    assert await has_no_horizontal_scroll(page)
    await screenshot(page, "start-zh")
    await page.click("text=English")
    assert await page.title() == "Welcome · Patient service console"
    await screenshot(page, "start-en")
    await context.close()
