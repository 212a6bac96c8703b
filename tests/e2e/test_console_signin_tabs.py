"""The console's sign-in with several tabs of one browser, on the stack's real Keycloak: the
pages of two tabs at an expired access token, on two instances of the console, when the realm
rotates refresh tokens (`revokeRefreshToken`, which hospitals turn on: the development realm
leaves it off), keep the person signed in; and two sign-ins begun in two tabs both complete."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

import devstack
from tests.browser import VIEWPORT, keycloak_login, screenshot
from tests.e2e.test_console_signin import _expire_access_token, _session_row
from tests.integration.keycloak_tokens import keycloak_admin
from tests.integration.services import RunningService, running
from tests.integration.test_complaints_service import free_port

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def console(stack_config, keycloak) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    with running(stack_config, "console", {}) as service:
        yield service


@pytest.fixture
def second_console(stack_config, console) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Another instance of the console (its sessions in the same table): its address."""
    port = free_port()
    process = devstack.start_service(
        stack_config, "console", extra_env={"CONSOLE_HTTP_PORT": str(port)},
        log_name="console-second",
    )  # fmt: skip
    try:
        devstack.wait_ready(f"http://127.0.0.1:{port}/readyz", 60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(15)


@contextlib.contextmanager
def _refresh_tokens_rotated(env: dict[str, str]) -> Iterator[None]:
    """The realm renews a refresh token once only (each refresh answers a new one): as a
    hospital's realm often does. Put back afterwards."""
    with keycloak_admin(env) as admin:
        realm = admin.get("").json()
        shipped = {k: realm.get(k) for k in ("revokeRefreshToken", "refreshTokenMaxReuse")}
        rotated = {"revokeRefreshToken": True, "refreshTokenMaxReuse": 0}
        admin.put("", json=rotated).raise_for_status()
        try:
            yield
        finally:
            admin.put("", json=shipped).raise_for_status()


async def test_pages_of_two_tabs_at_an_expired_token_keep_the_session_when_tokens_rotate(
    console: RunningService,
    second_console: str,
    keycloak: dict[str, str],
    browser,  # type: ignore[no-untyped-def]
) -> None:
    """Each request refreshed on its own: the first renewal made the refresh token the others
    held a used one, Keycloak refused them (invalid_grant), and the console ended the session:
    [303 /login, 200, 303 /login, 303 /login], then signed out."""
    env = keycloak
    with _refresh_tokens_rotated(env):
        context = await browser.new_context(viewport=VIEWPORT, locale="zh-CN")
        page = await context.new_page()
        await page.goto(console.url + "/")
        await keycloak_login(page, env, "SUPERVISOR")
        await page.wait_for_url(console.url + "/")
        cookie = next(c for c in await context.cookies() if c["name"] == "console_session")
        cookies = {"console_session": cookie["value"]}

        async def home(url: str) -> tuple[int, str | None]:
            async with httpx.AsyncClient(base_url=url, cookies=cookies, timeout=30) as tab:
                resp = await tab.get("/")
            return resp.status_code, resp.headers.get("location")

        for _ in range(2):  # the second time with the refresh token the first one got
            await _expire_access_token(env, cookie["value"])
            pages = await asyncio.gather(*(home(url) for url in [console.url, second_console] * 3))
            assert pages == [(200, None)] * 6
        row = await _session_row(env, cookie["value"])
        assert row is not None and row["access_expires_at"] > datetime.now(UTC)
        await page.goto(console.url + "/")
        assert page.url == console.url + "/"
        await screenshot(page, "signin-tabs-after-refresh")
        await context.close()


async def test_sign_ins_begun_in_two_tabs_both_complete(
    console: RunningService,
    keycloak: dict[str, str],
    browser,  # type: ignore[no-untyped-def]
) -> None:
    """The browser held one sign-in cookie: the second tab's /login replaced the first's, and
    the first tab's sign-in ended on "这次登录不是在本浏览器中开始的"."""
    env = keycloak
    context = await browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    start, patients = await context.new_page(), await context.new_page()
    for page, path in ((start, "/"), (patients, "/patients")):
        await page.goto(console.url + path)  # to sign in, then back here
        await page.wait_for_selector("#kc-login")
    # The second tab's login page, opened again once the first has signed in: single sign-on
    # passes it through. (Not the open page: Keycloak's script moves it on by itself, or not,
    # as its polling falls; a person reloads it.)
    login_page = patients.url
    await patients.close()
    await keycloak_login(start, env)
    await start.wait_for_url(f"{console.url}/**")
    assert start.url == console.url + "/", await start.inner_text("main")
    assert "客服 王芳" in await start.inner_text("header")
    await screenshot(start, "signin-tabs-first-tab")
    patients = await context.new_page()
    await patients.goto(login_page)
    await patients.wait_for_url(f"{console.url}/**")
    assert patients.url == console.url + "/patients", await patients.inner_text("main")
    assert "客服 王芳" in await patients.inner_text("header")
    await screenshot(patients, "signin-tabs-second-tab")
    assert not [c for c in await context.cookies() if c["name"].startswith("console_signin")]
    await context.close()
