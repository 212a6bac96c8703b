"""What the console's sign-in refuses and records, on the stack's real Keycloak and console: an
offline grant asked for in the login address (the realm does not offer it, and the console
refuses and revokes one a provider gives), a session past its absolute lifetime, weak or
reused passwords and two typos (the realm's policy and brute-force settings), a callback
link carrying someone's "error description", and an oversized return address. A sign-in and
a sign-out are recorded by Keycloak (its events) and by the console (its log, no token)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.browser import VIEWPORT, keycloak_login, screenshot, signed_in
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


def _console_client(admin: httpx.Client) -> dict[str, Any]:
    found: list[dict[str, Any]] = admin.get("/clients", params={"clientId": "console"}).json()
    return found[0]


def _offline_sessions(env: dict[str, str], username: str) -> list[Any]:
    with keycloak_admin(env) as admin:
        user, client = _user(admin, username), _console_client(admin)
        found: list[Any] = admin.get(f"/users/{user['id']}/offline-sessions/{client['id']}").json()
        return found


@contextlib.contextmanager
def _offline_offered(env: dict[str, str], username: str) -> Iterator[None]:
    """The realm as it was shipped before: the console's client offers `offline_access` and
    the person holds the role. Put back afterwards."""
    with keycloak_admin(env) as admin:
        client, user = _console_client(admin), _user(admin, username)
        scopes = admin.get("/client-scopes").json()
        scope = next(s for s in scopes if s["name"] == "offline_access")
        role = admin.get("/roles/offline_access").json()
        scope_url = f"/clients/{client['id']}/optional-client-scopes/{scope['id']}"
        roles_url = f"/users/{user['id']}/role-mappings/realm"
        admin.put(scope_url).raise_for_status()
        admin.post(roles_url, json=[role]).raise_for_status()
        try:
            yield
        finally:
            admin.request("DELETE", roles_url, json=[role])
            admin.delete(scope_url)


async def _sign_in_asking_offline(browser, console_url: str, env: dict[str, str], user: str):  # type: ignore[no-untyped-def]
    """A sign-in whose login address was edited to ask for `offline_access` too; the browser
    context after it (its page at wherever the sign-in ended)."""
    context = await browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    page = await context.new_page()
    await page.goto(console_url + "/login")
    await page.wait_for_selector("#kc-login")
    login = httpx.URL(page.url)
    edited = login.copy_set_param("scope", login.params["scope"] + " offline_access")
    await page.goto(str(edited))
    if page.url.startswith(env["OIDC_ISSUER_URL"]):  # the realm let the scope through
        await keycloak_login(page, env, user)
        await page.wait_for_url(f"{console_url}/**")
    return context, page


async def test_a_sign_in_asking_for_offline_access_gets_no_session_and_no_offline_grant(
    console: RunningService,
    keycloak: dict[str, str],
    browser,  # type: ignore[no-untyped-def]
) -> None:
    """The realm offered the console's client `offline_access`, and gave the role to all."""
    env = keycloak
    context, page = await _sign_in_asking_offline(browser, console.url, env, "RADIOLOGY")
    # Keycloak refused the scope (invalid_scope): the console's sentence for it
    assert "登录请求的权限范围不被允许" in await page.inner_text("main")
    await screenshot(page, "signin-scope-refused")
    assert not [c for c in await context.cookies() if c["name"] == "console_session"]
    assert _offline_sessions(env, env["KEYCLOAK_USER_RADIOLOGY"]) == []
    await context.close()
    with keycloak_admin(env) as admin:
        default_role = admin.get("").json()["defaultRole"]
        held = admin.get(f"/roles-by-id/{default_role['id']}/composites").json()
    assert "offline_access" not in {role["name"] for role in held}


async def test_the_console_refuses_and_revokes_an_offline_grant_the_provider_gives(
    console: RunningService,
    keycloak: dict[str, str],
    browser,  # type: ignore[no-untyped-def]
) -> None:
    env = keycloak
    with _offline_offered(env, env["KEYCLOAK_USER_RADIOLOGY"]):
        context, page = await _sign_in_asking_offline(browser, console.url, env, "RADIOLOGY")
        assert page.url.startswith(console.url + "/auth/callback")
        shown = await page.inner_text("main")
        # the reason in the page's language, not the console's English sentence
        assert "登录未完成" in shown and "离线授权" in shown and "offline" not in shown
        await screenshot(page, "signin-offline-grant-refused")
        assert not [c for c in await context.cookies() if c["name"] == "console_session"]
        assert _offline_sessions(env, env["KEYCLOAK_USER_RADIOLOGY"]) == []  # revoked
        await context.close()


async def test_a_session_ends_ten_hours_after_sign_in_however_often_it_is_used(
    console: RunningService, keycloak: dict[str, str]
) -> None:
    """With only an idle limit, a page opened every few hours kept a session for ever."""
    ages = {timedelta(hours=9): False, timedelta(hours=10, seconds=1): True}
    for age, over in ages.items():
        session = await signed_in(keycloak["DATABASE_URL"], "dev-agent-token")
        async with _console_db(keycloak) as conn:
            await conn.execute(
                "UPDATE sessions SET created_at = now() - $2::interval WHERE id_hash = $1",
                hashlib.sha256(session.id.encode()).digest(), age,
            )  # fmt: skip
        cookies = {"console_session": session.id}
        async with httpx.AsyncClient(base_url=console.url, cookies=cookies) as client:
            page = await client.get("/inbox")
        sent_to_sign_in = page.headers.get("location", "").startswith("/login")
        assert sent_to_sign_in is over, (age, page.status_code)


async def test_the_realm_refuses_weak_and_reused_passwords_and_two_typos_do_not_lock(
    keycloak: dict[str, str],
) -> None:
    env = keycloak
    name = f"policy-{uuid.uuid4().hex[:8]}"
    with keycloak_admin(env) as admin:
        made = admin.post("/users", json={
            "username": name, "enabled": True, "email": f"{name}@hospital.example",
            "emailVerified": True, "firstName": "测试", "lastName": "密码"})  # fmt: skip
        made.raise_for_status()
        user_id = made.headers["location"].rsplit("/", 1)[-1]
        try:
            await _passwords_and_typos(env, admin, name, user_id)
        finally:
            admin.delete(f"/users/{user_id}")
        realm = admin.get("").json()
    assert realm["failureFactor"] <= 10 and realm["permanentLockout"] is False


async def _passwords_and_typos(
    env: dict[str, str], admin: httpx.Client, name: str, user_id: str
) -> None:
    def set_password(value: str) -> int:
        body = {"type": "password", "value": value, "temporary": False}
        return admin.put(f"/users/{user_id}/reset-password", json=body).status_code

    good = "Ward-7 night shift 2026"
    for weak in ("short-pw", name, f"{name}@hospital.example"):
        assert set_password(weak) == 400, weak
    assert set_password(good) == 204
    assert set_password(good) == 400  # the last five are not taken again

    def password_grant(password: str) -> httpx.Response:
        return httpx.post(
            f"{env['OIDC_ISSUER_URL']}/protocol/openid-connect/token",
            data={"grant_type": "password", "client_id": env["KEYCLOAK_CLI_CLIENT_ID"],
                  "username": name, "password": password},
            timeout=30,
        )  # fmt: skip

    # Two typos within a second (Keycloak's default locked the account for a minute then).
    for typo in ("Ward-7 night shift 2025", "Ward-7 night shfit 2026"):
        refused = password_grant(typo)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
        await asyncio.sleep(0.4)
    assert password_grant(good).status_code == 200


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
    # Keycloak then tells the console of that sign-out (back-channel logout): nothing is left
    kinds_logged = [line["event"] for line in ours]
    assert kinds_logged[:2] == ["signed in", "signed out"], kinds_logged
    assert set(kinds_logged[2:]) <= {"back-channel logout: no console session left"}
    for line in ours[:2]:
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
