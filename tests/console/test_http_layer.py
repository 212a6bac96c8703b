"""What the console's HTTP layer answers, whatever the screen: the headers of its pages, the
pages for a service's refusal and for an identity provider that is away, what a token refresh
keeps, and where sign-in comes back to. The app in this process (tests/console/in_process.py)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from console.oidc import Tokens
from hospital_shared.auth import Principal, Role
from tests.console.in_process import Handler, console, expired, idle_services

STAYS_OFF_SCREENS = {
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
}


def test_a_page_or_error_page_is_neither_kept_by_the_browser_nor_shown_in_a_frame() -> None:
    """On a shared ward PC, Back after sign-out showed the last patient's page from the cache."""
    app = console()
    app.sign_in()
    start, missing = app.client.get("/"), app.client.get("/calls/FU-404")
    assert (start.status_code, missing.status_code) == (200, 404)
    for page in (start, missing):
        assert {k: page.headers.get(k) for k in STAYS_OFF_SCREENS} == STAYS_OFF_SCREENS
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    style = app.client.get("/static/console.css")
    assert style.status_code == 200 and "no-store" not in style.headers.get("cache-control", "")


def _provider_away(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


@pytest.mark.parametrize(
    "provider",
    [
        _provider_away,
        lambda r: httpx.Response(502, text="<html>Bad Gateway</html>"),
        lambda r: httpx.Response(200, text="<html>maintenance</html>"),
    ],
    ids=["no answer", "502", "not JSON"],
)
def test_a_refresh_while_the_identity_provider_is_away_says_so_and_keeps_the_session(
    provider: Handler,
) -> None:
    app = console(provider=provider)
    session = app.sign_in(refresh_token="refresh-1", access_expires_at=expired())
    page = app.client.get("/")
    assert page.status_code == 503 and "服务暂时不可用" in page.text
    assert session.id in app.sessions.sessions  # the refresh token may still be good


def test_a_refresh_answered_without_an_access_token_ends_the_session_and_asks_to_sign_in() -> None:
    app = console(provider=lambda r: httpx.Response(200, json={"token_type": "Bearer"}))
    session = app.sign_in(refresh_token="refresh-1", access_expires_at=expired())
    page = app.client.get("/worklist")
    assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
    assert session.id not in app.sessions.sessions


def test_a_sign_in_whose_code_exchange_finds_the_provider_away_shows_the_sign_in_page() -> None:
    app = console(provider=_provider_away)
    begun = app.client.get("/login")
    state = parse_qs(urlsplit(begun.headers["location"]).query)["state"][0]
    page = app.client.get(f"/auth/callback?code=c&state={state}")
    assert page.status_code == 503 and "登录未完成" in page.text


def _complaints_refusing_the_cursor(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/v1/cases":
        return httpx.Response(422, json={
            "type": "urn:hospital:problem:validation", "status": 422,
            "detail": "1 field is invalid",
            "errors": [{"location": ["query", "cursor"], "message": "not a cursor of this list",
                        "type": "value_error"}]})  # fmt: skip
    if request.url.path == "/v1/kpi":
        return httpx.Response(422, json={
            "type": "urn:hospital:problem:validation", "status": 422,
            "errors": [{"location": ["query", "period"], "type": "enum",
                        "message": "Input should be 'day', 'week', 'month' or 'quarter'"}]})  # fmt: skip
    return idle_services(request)


def test_a_services_refusal_of_what_a_page_asked_shows_its_status_and_reason_not_a_500() -> None:
    app = console(_complaints_refusing_the_cursor)
    app.sign_in(roles=["supervisor"])
    page = app.client.get("/cases?cursor=edited")
    assert page.status_code == 422
    assert "cursor" in page.text and "填写的内容有误" in page.text
    app.client.cookies.set("console_lang", "en")
    app.sign_in(roles=["admin"])
    csv = app.client.get("/operations/kpi.csv?period=bogus")
    assert csv.status_code == 422 and "text/html" in csv.headers["content-type"]
    assert "period: Input should be &#39;day&#39;" in csv.text


def _notifications_refusing_the_note(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/read"):
        return httpx.Response(422, json={
            "type": "urn:hospital:problem:validation", "status": 422,
            "errors": [{"location": ["path", "message_id"], "type": "uuid_parsing",
                        "message": "Input should be a valid UUID"}]})  # fmt: skip
    return idle_services(request)


@pytest.mark.parametrize(
    ("referer", "back", "switch"),
    [
        ("http://testserver/inbox", "/inbox", "/inbox"),
        (None, None, "/"),
        ("https://elsewhere.example/inbox", None, "/"),
    ],
    ids=["from the inbox", "no referer", "another site"],
)
def test_a_services_refusal_of_a_posted_form_links_back_to_the_forms_page(
    referer: str | None, back: str | None, switch: str
) -> None:
    """The page answered to a form's POST: its language switch went to the POST's address (a
    bare 405), and it said "go back" with only a link to the start page."""
    app = console(_notifications_refusing_the_note)
    session = app.sign_in()
    page = app.client.post(
        "/inbox/not-a-note/read", data={"csrf_token": session.csrf_token, "go": "1"},
        headers={"Referer": referer} if referer else {},
    )  # fmt: skip
    assert page.status_code == 422 and "请求未被接受" in page.text
    assert "message_id：不是有效的编号" in page.text
    assert (f'<a href="{back}" id="back">返回上一页</a>' in page.text) is (back is not None)
    assert f'href="/lang/en?next={switch}"' in page.text


def test_a_refresh_keeps_the_department_and_role_the_new_token_gives() -> None:
    """A transfer to another department, or a new role, showed only on the refreshed request
    (the department) or never (the role): the store kept the sign-in's."""
    app = console()
    moved = Principal(role=Role.SUPERVISOR, staff_id="S-AGENT-01", department="CARD", name="王芳")

    async def refresh(refresh_token: str) -> Tokens:
        return Tokens("access-2", "refresh-2", None, 300)

    async def principal(token: str) -> Principal:
        return moved

    app.oidc.refresh = refresh  # type: ignore[method-assign]
    app.oidc.access.principal = principal  # type: ignore[method-assign]
    session = app.sign_in(refresh_token="refresh-1", access_expires_at=expired())
    assert app.client.get("/").status_code == 200
    stored = app.sessions.sessions[session.id]
    assert (stored.roles, stored.department, stored.access_token) == (
        ["supervisor"], "CARD", "access-2"
    )  # fmt: skip
    assert "CARD" in app.client.get("/").text


def test_a_refresh_answered_without_a_new_refresh_token_keeps_the_one_held() -> None:
    """RFC 6749 section 6 lets the provider leave the refresh token out: the session stored
    none, and the next refresh ended it."""
    app = console(provider=lambda r: httpx.Response(200, json={"access_token": "access-2"}))
    agent = Principal(role=Role.AGENT, staff_id="S-AGENT-01", department="CS", name="王芳")

    async def principal(token: str) -> Principal:
        return agent

    app.oidc.access.principal = principal  # type: ignore[method-assign]
    session = app.sign_in(refresh_token="refresh-1", access_expires_at=expired())
    assert app.client.get("/").status_code == 200
    stored = app.sessions.sessions[session.id]
    assert (stored.access_token, stored.refresh_token) == ("access-2", "refresh-1")


def test_a_provider_error_shows_the_consoles_sentence_for_its_code_and_nothing_it_sent() -> None:
    app = console()
    for code, sentence in (("access_denied", "登录被拒绝或已取消"), ("<b>x</b>", "没有完成登录")):
        begun = app.client.get("/login")
        state = parse_qs(urlsplit(begun.headers["location"]).query)["state"][0]
        page = app.client.get("/auth/callback", params={
            "state": state, "error": code, "error_description": "请致电 010-1234"})  # fmt: skip
        assert page.status_code == 400 and sentence in page.text
        assert "010-1234" not in page.text and "&lt;b&gt;" not in page.text


async def test_the_session_store_writes_the_refreshed_roles_and_department() -> None:
    from console.session import SessionStore

    class Pool:
        async def execute(self, sql: str, *args: object) -> str:
            self.sql, self.args = sql, args
            return "UPDATE 1"

    pool = Pool()
    await SessionStore(pool, idle_s=60).update_tokens(  # type: ignore[arg-type]
        "session-1", roles=["supervisor"], department="CARD", access_token="a",
        refresh_token="r", access_expires_at=None,
    )  # fmt: skip
    assert "roles = $" in pool.sql and "department = $" in pool.sql
    assert ["supervisor"] in pool.args and "CARD" in pool.args


def test_the_sign_in_comes_back_to_the_whole_address_asked_for_and_never_to_another_site() -> None:
    """The return address was `/login?next=` + the address unencoded: everything after its
    first `&` was lost (a filtered queue came back unfiltered)."""
    app = console()
    signed_in_as = Principal(role=Role.AGENT, staff_id="S-AGENT-01", department="CS", name="王芳")

    async def exchange_code(code: str, verifier: str, redirect_uri: str) -> Tokens:
        return Tokens("access-1", "refresh-1", "id-1", 300)

    async def check_id_token(id_token: str | None, nonce: str) -> dict[str, str]:
        return {"nonce": nonce}

    async def principal(token: str) -> Principal:
        return signed_in_as

    app.oidc.exchange_code = exchange_code  # type: ignore[method-assign]
    app.oidc.check_id_token = check_id_token  # type: ignore[method-assign]
    app.oidc.access.principal = principal  # type: ignore[method-assign]
    asked = "/patients?by=name&q=%E9%92%B1%E5%AD%A6%E6%96%87&note=A%26B"
    to_login = app.client.get(asked)
    assert to_login.status_code == 303
    login = urlsplit(to_login.headers["location"])
    assert login.path == "/login" and parse_qs(login.query) == {"next": [asked]}
    to_provider = app.client.get(to_login.headers["location"])
    state = parse_qs(urlsplit(to_provider.headers["location"]).query)["state"][0]
    back = app.client.get("/auth/callback", params={"code": "c", "state": state})
    assert back.status_code == 303 and back.headers["location"] == asked
    for elsewhere in ELSEWHERE:
        app.client.get("/login", params={"next": elsewhere})
        assert app.sign_ins.row is not None and app.sign_ins.row["next_path"] == "/", elsewhere


# Addresses a browser reads as another site: it drops tabs and newlines from an address and
# reads `\` as `/`, so each of these is `//evil.example` to it.
ELSEWHERE = (
    "//evil.example/x", "/\\evil.example", "https://evil.example/", "/\t/evil.example",
    "/\n/evil.example", "/\r\n/evil.example", "\\\\evil.example", "/\t\\evil.example",
)  # fmt: skip


def test_choosing_a_language_comes_back_to_this_console_only() -> None:
    app = console()
    asked = "/cases?open=open&department=CARD"
    back = app.client.get("/lang/en", params={"next": asked}, follow_redirects=False)
    assert back.status_code == 303 and back.headers["location"] == asked
    for elsewhere in ELSEWHERE:
        back = app.client.get("/lang/en", params={"next": elsewhere}, follow_redirects=False)
        assert back.headers["location"] == "/", elsewhere


def test_a_browser_keeps_the_cookies_of_its_newest_sign_ins_only() -> None:
    """One cookie per sign-in under way (two tabs signing in at once both complete: tests/e2e),
    the oldest dropped past the cap, so a browser's Cookie header stays small."""
    from console.signin import MAX_SIGN_INS_PER_BROWSER, SIGN_IN_COOKIE

    app = console()
    states = []
    for _ in range(MAX_SIGN_INS_PER_BROWSER + 2):
        begun = app.client.get("/login")
        states.append(parse_qs(urlsplit(begun.headers["location"]).query)["state"][0])
    kept = {c.value for c in app.client.cookies.jar if c.name.startswith(SIGN_IN_COOKIE)}
    assert kept == set(states[2:])
