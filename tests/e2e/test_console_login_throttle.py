"""The sign-in throttle over real HTTP (uvicorn, the stack's console, PostgreSQL and
Keycloak): one address past `CONSOLE_LOGIN_RATE_PER_MINUTE` gets 429 with `Retry-After` and
stores no more sign-ins; another address, as the trusted proxy (loopback, uvicorn's
FORWARDED_ALLOW_IPS) names it in `X-Forwarded-For`, is not held back by it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.browser import VIEWPORT, screenshot
from tests.e2e.test_console_signin import _console_db
from tests.integration.services import RunningService, running

pytestmark = pytest.mark.stack
RATE = 3


@pytest.fixture(scope="module")
def console(stack_config, keycloak) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    with running(stack_config, "console", {"CONSOLE_LOGIN_RATE_PER_MINUTE": str(RATE)}) as service:
        yield service


async def _sign_ins(env: dict[str, str]) -> int:
    async with _console_db(env) as conn:
        count: int = await conn.fetchval("SELECT count(*) FROM sign_ins")
        return count


async def test_one_address_cannot_begin_sign_ins_without_end(
    console: RunningService, keycloak: dict[str, str]
) -> None:
    behind_proxy = {"X-Forwarded-For": "203.0.113.7"}
    async with httpx.AsyncClient(base_url=console.url, timeout=60) as client:
        begun = [(await client.get("/login")).status_code for _ in range(RATE)]
        assert begun == [303] * RATE
        stored = await _sign_ins(keycloak)
        refused = await client.get("/login")
        assert refused.status_code == 429, refused.text[:300]
        assert 1 <= int(refused.headers["retry-after"]) <= 60 // RATE
        assert "登录请求过于频繁" in refused.text
        english = await client.get("/login", cookies={"console_lang": "en"})
        assert english.status_code == 429 and "Too many sign-ins" in english.text
        assert await _sign_ins(keycloak) == stored  # nothing stored, Keycloak not asked
        assert (await client.get("/login", headers=behind_proxy)).status_code == 303
        callbacks = [(await client.get("/auth/callback")).status_code for _ in range(RATE + 1)]
        assert callbacks == [400] * RATE + [429]


async def test_the_throttled_sign_in_page_in_the_browser(
    console: RunningService,
    browser,  # type: ignore[no-untyped-def]
) -> None:
    context = await browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    try:
        page = await context.new_page()
        for _ in range(RATE + 2):  # the bucket may be part-spent by the test before
            response = await page.goto(f"{console.url}/login")
            if response is not None and response.status == 429:
                break
        assert response is not None and response.status == 429
        assert "登录请求过于频繁" in await page.inner_text("body")
        await screenshot(page, "signin-throttled")
    finally:
        await context.close()
