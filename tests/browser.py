"""The browser of the console's tests: Playwright (PyPI) driving Debian's `chromium`, which
devstack installs with `fonts-noto-cjk` (Playwright's own browser download is not reachable
from hospital networks, nor from here). Every screen test writes screenshots to
`test-artifacts/screenshots/` (git-ignored) for a person to look at.

Sessions are made directly in the console's session store with a development token as the
access token (`signed_in`), so screen tests do not depend on the identity provider; the
sign-in flow has tests of its own.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from console.session import Session, SessionStore
from hospital_shared.auth import DEV_TOKENS, Principal

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
VIEWPORT = {"width": 1366, "height": 768}  # the smallest screen the console is laid out for


@contextlib.asynccontextmanager
async def launch() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        raise RuntimeError("no `chromium` on PATH: devstack installs Debian's (make test)")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()


async def signed_in(
    database_url: str,
    token: str,
    *,
    principal: Principal | None = None,
    schema: str = "console",
    idle_s: float = 3600,
) -> Session:
    """A console session for the staff member behind `token` (a development token, or one of
    the test's `AUTH_TOKENS` given with its `principal`), with the token as its access token
    (as sign-in would store a Keycloak access token)."""
    principal = principal or DEV_TOKENS[token]
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        store = SessionStore(conn, idle_s=idle_s)  # type: ignore[arg-type]
        return await store.create(
            staff_id=principal.staff_id or principal.name,
            roles=[principal.role.value],
            department=principal.department,
            display_name=principal.name,
            access_token=token,
        )
    finally:
        await conn.close()


async def console_context(
    browser: Browser, console_url: str, session: Session | None, *, lang: str = "zh"
) -> BrowserContext:
    """A fresh browser context at 1366x768 carrying `session`'s cookie (and a language)."""
    context = await browser.new_context(
        viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    host = urlsplit(console_url).hostname or "127.0.0.1"
    cookies = [{"name": "console_lang", "value": lang, "domain": host, "path": "/"}]
    if session is not None:
        cookies.append(
            {"name": "console_session", "value": session.id, "domain": host, "path": "/"}
        )
    await context.add_cookies(cookies)  # type: ignore[arg-type]
    return context


async def signed_in_page(
    browser: Browser, console_url: str, database_url: str, token: str, *, lang: str = "zh"
) -> Page:
    """A page of a fresh context signed in as the staff member behind `token`."""
    session = await signed_in(database_url, token)
    context = await console_context(browser, console_url, session, lang=lang)
    return await context.new_page()


async def page_as(
    browser: Browser, stack: Mapping[str, Any], stack_env: Mapping[str, str], token: str,
    lang: str = "zh",
) -> Page:  # fmt: skip
    """`signed_in_page` on the console of a stack the test runs (`stack["console"]`)."""
    return await signed_in_page(
        browser, stack["console"].url, stack_env["DATABASE_URL"], token, lang=lang
    )


async def keycloak_login(page: Page, env: dict[str, str], user: str = "AGENT") -> None:
    """Fill in Keycloak's own login form on `page` as dev user `user` of the stack env
    (KEYCLOAK_USER_<user> / KEYCLOAK_PASSWORD_<user>) and submit it."""
    await page.wait_for_selector("#kc-login")
    await page.fill("#username", env[f"KEYCLOAK_USER_{user}"])
    await page.fill("#password", env[f"KEYCLOAK_PASSWORD_{user}"])
    await page.click("#kc-login")


async def send(page: Page, selector: str) -> None:
    """Click what posts a form (or follows a link) and wait for the page it leads to."""
    async with page.expect_navigation():
        await page.click(selector)


async def screenshot(page: Page, name: str) -> Path:
    """The whole page as `test-artifacts/screenshots/<name>.png`. Up to two minutes: a
    full-page capture of the operations report (charts, CJK fonts) took over Playwright's
    default 30 s in a fresh-clone CI run at load ~27."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True, timeout=120_000)
    return path


async def open_from_menu(page: Page, console_url: str, entry: str) -> str:
    """Open a screen as a person does, from the menu of the home page: its heading."""
    await page.goto(f"{console_url}/")
    await page.click(f"nav >> text={entry}")
    return await page.inner_text("h1")


async def open_setting(page: Page, console_url: str, entry: str) -> str:
    """Open a settings screen (console/navigation.py SETTINGS) as a person does: the menu's
    设置, then the screen's entry on that page: its heading."""
    assert await open_from_menu(page, console_url, "设置") == "设置"
    async with page.expect_navigation():
        await page.click(f"#settings-list >> text={entry}")
    return await page.inner_text("h1")


async def submit(page: Page, button: str = "form.intake button[type='submit']") -> None:
    """Press a form's `button` and wait for the page it leads to (its answer or redirect)."""
    async with page.expect_navigation():
        await page.click(button)


async def has_no_horizontal_scroll(page: Page) -> bool:
    width: int = await page.evaluate("document.documentElement.scrollWidth")
    return width <= VIEWPORT["width"]


async def chart_labels_cut(page: Page) -> list[str]:
    """The texts of the page's SVG charts that do not fit inside their chart (a label cut off
    at the left edge, a figure past the right): as the browser lays them out."""
    cut: list[str] = await page.evaluate(
        """() => [...document.querySelectorAll('svg.chart text')].filter(t => {
            const box = t.getBBox(), view = t.ownerSVGElement.viewBox.baseVal;
            return box.x < 0 || box.x + box.width > view.width;
        }).map(t => t.textContent)"""
    )
    return cut


async def as_operations(base_url: str, path: str) -> dict[str, Any]:
    """What a service at `base_url` answers operations (the admin, who reads every record) at
    `path`: what a screen test checks the screen against."""
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.get(
            f"{base_url}{path}", headers={"Authorization": "Bearer dev-admin-token"}
        )
    resp.raise_for_status()
    found: dict[str, Any] = resp.json()
    return found
