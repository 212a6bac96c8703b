"""The console as a real process on the test stack: a signed-in person gets the start page in
Chinese (or English), readable at 1366x768; without a session, a page sends them to sign in;
the sessions' tokens are sealed in the database and opened only to call a service.

The console's notifications service here is a recorder in the test process (`recorder`): it
answers the unread count and keeps the bearer tokens the console sent."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest

from console.session import Session, SessionStore
from hospital_shared.field_crypto import FieldCipher
from tests.browser import console_context, has_no_horizontal_scroll, screenshot, signed_in
from tests.integration.capture_servers import ApiStandIn
from tests.integration.services import RunningService, running


@pytest.fixture(scope="module")
def recorder() -> Iterator[ApiStandIn]:
    stand_in = ApiStandIn({"unread": 3}).start()
    try:
        yield stand_in
    finally:
        stand_in.stop()


@pytest.fixture(scope="module")
def console(stack_config, stack_env, recorder) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    with running(stack_config, "console", {"NOTIFICATIONS_URL": recorder.url}) as service:
        yield service


async def test_without_a_session_a_page_sends_to_sign_in(console: RunningService) -> None:
    async with httpx.AsyncClient(base_url=console.url) as client:
        resp = await client.get("/?lang=zh")
    assert resp.status_code == 303
    # the return address encoded whole, its query with it
    assert resp.headers["location"] == "/login?next=%2F%3Flang%3Dzh"


async def test_the_start_page_shows_the_agent_in_chinese_and_english(
    console: RunningService,
    stack_env,
    browser,  # type: ignore[no-untyped-def]
) -> None:
    session = await signed_in(stack_env["DATABASE_URL"], "dev-agent-token")
    context = await console_context(browser, console.url, session)
    page = await context.new_page()
    answer = await page.goto(console.url + "/")
    # a shared ward PC: Back after sign-out must not show it from the cache; no other site
    # may frame it
    assert answer is not None
    headers = await answer.all_headers()
    assert headers["cache-control"] == "no-store" and headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert await page.title() == "欢迎 · 患者服务工作台"
    assert "客服 王芳" in await page.inner_text("header")
    assert await has_no_horizontal_scroll(page)
    await screenshot(page, "start-zh")
    async with page.expect_navigation():  # the title is read from the English page, not mid-way
        await page.click("text=English")
    assert await page.title() == "Welcome · Patient service console"
    await screenshot(page, "start-en")
    await context.close()


async def test_an_address_no_page_answers_shows_a_console_page_not_json(
    console: RunningService,
    stack_env,
    browser,  # type: ignore[no-untyped-def]
) -> None:
    """A stale bookmark, or a form's POST address opened by hand, showed the services' raw
    problem+json ({"title":"Method Not Allowed"...}) in the browser."""
    session = await signed_in(stack_env["DATABASE_URL"], "dev-agent-token")
    context = await console_context(browser, console.url, session)
    page = await context.new_page()
    for path, status in (("/no-such-page", 404), ("/logout", 405)):
        answer = await page.goto(console.url + path)
        assert answer is not None and answer.status == status
        assert await page.title() == "没有这个页面 · 患者服务工作台"
        assert "请从菜单进入" in await page.inner_text("main")
        assert "客服 王芳" in await page.inner_text("header")  # the menu, signed in
    await screenshot(page, "no-such-page")
    await context.close()


async def test_a_session_sealed_under_a_key_no_longer_held_signs_in_again_not_a_500(
    console: RunningService,
    raw_db,  # type: ignore[no-untyped-def]
    stack_env: dict[str, str],
) -> None:
    """After a key rotation whose old key was dropped (README, Encryption at rest), every
    page of a session sealed under it was a 500 (Undecryptable) until the session timed out."""
    session = await signed_in(stack_env["DATABASE_URL"], "dev-agent-token")
    other = FieldCipher.from_settings(f"gone:{base64.b64encode(b'k' * 32).decode()}", "", "h")
    await raw_db.execute(
        "UPDATE console.sessions SET access_token = $2 WHERE id_hash = $1",
        hashlib.sha256(session.id.encode()).digest(),
        other.seal("dev-agent-token"),
    )
    async with httpx.AsyncClient(
        base_url=console.url, cookies={"console_session": session.id}
    ) as client:
        answer = await client.get("/worklist")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    left = await raw_db.fetchval(
        "SELECT count(*) FROM console.sessions WHERE id_hash = $1",
        hashlib.sha256(session.id.encode()).digest(),
    )
    assert left == 0


async def test_the_session_row_holds_no_token_in_clear_and_the_console_opens_it(
    console: RunningService,
    recorder: ApiStandIn,
    raw_db,  # type: ignore[no-untyped-def]
    stack_env: dict[str, str],
) -> None:
    session = await signed_in(stack_env["DATABASE_URL"], "dev-agent-token")
    key = hashlib.sha256(session.id.encode()).digest()
    # a refresh and an id token as sign-in stores them (console/signin.py)
    conn = await asyncpg.connect(
        stack_env["DATABASE_URL"], server_settings={"search_path": "console"}
    )
    try:
        await SessionStore(conn, idle_s=60).update_tokens(  # type: ignore[arg-type]
            session.id, roles=session.roles, department=session.department,
            access_token="dev-agent-token", refresh_token="refresh-secret-R1",
            access_expires_at=None, id_token="id-token-secret-I1",
        )  # fmt: skip
    finally:
        await conn.close()
    row = await raw_db.fetchrow("SELECT * FROM console.sessions WHERE id_hash = $1", key)
    stored = " ".join(str(value) for value in dict(row).values())
    for secret in ("dev-agent-token", "refresh-secret-R1", "id-token-secret-I1"):
        assert secret not in stored
    for column in ("access_token", "refresh_token", "id_token"):
        assert row[column].startswith("enc1:")
    # the console process opens it: the service it calls gets the token itself
    recorder.requests.clear()
    async with httpx.AsyncClient(
        base_url=console.url, cookies={"console_session": session.id}
    ) as client:
        page = await client.get("/")
    assert page.status_code == 200 and recorder.requests == [
        ("/v1/inbox/unread", "Bearer dev-agent-token")
    ]
    assert '<span class="badge"' in page.text and ">3<" in page.text  # the unread count


@pytest.fixture
async def agent(
    console: RunningService, stack_env: dict[str, str]
) -> AsyncIterator[tuple[Session, httpx.AsyncClient]]:
    """A new session of the development agent, and a client carrying its cookie."""
    session = await signed_in(stack_env["DATABASE_URL"], "dev-agent-token")
    cookies = {"console_session": session.id}
    async with httpx.AsyncClient(base_url=console.url, cookies=cookies) as client:
        yield session, client


async def test_a_form_posted_without_the_sessions_csrf_token_is_refused(
    agent: tuple[Session, httpx.AsyncClient],
) -> None:
    session, client = agent
    for form in ({}, {"csrf_token": "forged"}, {"csrf_token": "é"}):  # é: was a 500
        resp = await client.post("/worklist/FU-X/take", data=form)
        assert resp.status_code == 403 and "表单已过期" in resp.text
    # with it, the request goes on (to the follow-up service, which is not running here)
    resp = await client.post("/worklist/FU-X/take", data={"csrf_token": session.csrf_token})
    assert resp.status_code == 503 and "followup" in resp.text


async def test_a_session_idle_longer_than_the_limit_signs_in_again(
    agent: tuple[Session, httpx.AsyncClient],
    stack_env,  # type: ignore[no-untyped-def]
) -> None:
    session, client = agent
    assert (await client.get("/lang/zh")).status_code == 303
    db = await asyncpg.connect(stack_env["DATABASE_URL"])
    try:  # a shift (8 h) and a minute ago
        key = hashlib.sha256(session.id.encode()).digest()  # rows are keyed by the id's hash
        await db.execute(
            "UPDATE console.sessions SET last_seen_at = now() - interval '8 hours 1 minute'"
            " WHERE id_hash = $1",
            key,
        )
        resp = await client.get("/")
        assert resp.status_code == 303 and resp.headers["location"].startswith("/login")
        gone = "SELECT count(*) FROM console.sessions WHERE id_hash = $1"
        assert await db.fetchval(gone, key) == 0
    finally:
        await db.close()
