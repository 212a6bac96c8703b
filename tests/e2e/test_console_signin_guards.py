"""What the console's sign-in refuses and records, on the stack's real Keycloak and console
process: each test is a way in that was open, or a record that was missing (the audit of the
sign-in, CHANGELOG "Fixed")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.browser import VIEWPORT, keycloak_login
from tests.e2e.test_console_signin import _console_db
from tests.integration.keycloak_tokens import keycloak_admin
from tests.integration.services import RunningService, running

pytestmark = pytest.mark.stack

PHISHING = "系统升级，请致电 010-12345678 核对工号和密码"


@pytest.fixture(scope="module")
def console(stack_config, keycloak) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    with running(stack_config, "console", {}) as service:
        yield service


def _user(admin: httpx.Client, username: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = admin.get(
        "/users", params={"username": username, "exact": "true"}
    ).json()
    return found[0]


async def test_a_sign_in_and_out_are_recorded_by_keycloak_and_the_console_without_tokens(
    console: RunningService,
    keycloak: dict[str, str],
    browser,  # type: ignore[no-untyped-def]
) -> None:
    env = keycloak
    context = await browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    page = await context.new_page()
    await page.goto(console.url + "/")
    await keycloak_login(page, env, "WARD_SUPERVISOR")
    await page.wait_for_url(console.url + "/")
    await page.click("header button[type=submit]")  # 退出
    await page.wait_for_selector("#kc-login")
    await context.close()
    with keycloak_admin(env) as admin:
        user = _user(admin, env["KEYCLOAK_USER_WARD_SUPERVISOR"])
        events = admin.get("/events", params={"user": user["id"], "client": "console"}).json()
        assert admin.get("/admin-events").json()  # devstack's change of the console client
    kinds = {e["type"] for e in events}
    assert {"LOGIN", "CODE_TO_TOKEN", "LOGOUT"} <= kinds, kinds
    sid = next(e["sessionId"] for e in events if e["type"] == "LOGIN")
    lines = [json.loads(line) for line in console.log.splitlines() if line.startswith("{")]
    ours = [line for line in lines if line.get("sid") == sid]
    assert [line["event"] for line in ours] == ["signed in", "signed out"]
    for line in ours:
        assert (line["staff_id"], line["role"], line["department"]) == (
            "S-SUP-02",
            "supervisor",
            "CARD",
        )
    assert "eyJ" not in console.log  # no JWT (access, refresh or ID token) in the log


async def test_a_callback_link_with_an_error_description_shows_only_the_consoles_words(
    console: RunningService, keycloak: dict[str, str]
) -> None:
    """`/auth/callback?error=...&error_description=<a sentence>` put that sentence on the
    console's own page (its address, its style): a phishing page of the console's."""
    async with httpx.AsyncClient(base_url=console.url) as stranger:
        page = await stranger.get(
            "/auth/callback", params={"error": "x", "error_description": PHISHING}
        )
    assert page.status_code == 400 and PHISHING not in page.text
    # A sign-in this browser began, answered with an error by the provider: its sentence
    # for the code, the description only in the log.
    async with httpx.AsyncClient(base_url=console.url) as client:
        begun = await client.get("/login")
        state = httpx.URL(begun.headers["location"]).params["state"]
        page = await client.get("/auth/callback", params={
            "state": state, "error": "access_denied", "error_description": PHISHING})  # fmt: skip
    assert page.status_code == 400 and PHISHING not in page.text
    assert "登录被拒绝或已取消" in page.text
    assert PHISHING in console.log


async def test_an_oversized_return_address_is_not_stored(
    console: RunningService, keycloak: dict[str, str]
) -> None:
    """Every anonymous GET /login stores a row; its `next` was stored whatever its length."""
    kept, oversized = "/patients?q=" + "x" * 1900, "/patients?q=" + "x" * 12_000
    async with httpx.AsyncClient(base_url=console.url) as client:
        for target in (kept, oversized):
            assert (await client.get("/login", params={"next": target})).status_code == 303
    async with _console_db(keycloak) as conn:
        rows = await conn.fetch("SELECT next_path FROM sign_ins ORDER BY created_at DESC LIMIT 2")
    assert [r["next_path"] for r in rows] == ["/", kept]
