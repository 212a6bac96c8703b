"""Back-channel logout on the stack's real Keycloak and console: when Keycloak ends a session
(here an administrator, through its admin API), it POSTs a logout token to the console, and
the console refuses that session at its very next request, with its access token still
good (before, it lived on until the next refresh, up to 5 minutes). A logout token that is
forged, unsigned, for another audience, or not a logout event is refused with 400 and ends
nothing. Signing in is Keycloak's own login form, posted as a browser would."""

from __future__ import annotations

import hashlib
import html
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.test_console_signin import _console_db
from tests.integration.keycloak_tokens import RealmKey, alg_none, forged, keycloak_admin
from tests.integration.services import RunningService, running

pytestmark = pytest.mark.stack
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_PATH = "/auth/backchannel-logout"


@pytest.fixture(scope="module")
def realm_key(keycloak: dict[str, str]) -> RealmKey:
    return RealmKey(keycloak)  # before the console has fetched the realm's keys


@pytest.fixture(scope="module")
def console(stack_config, keycloak, realm_key) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    with running(stack_config, "console", {}) as service:
        yield service


async def _sign_in(console_url: str, env: dict[str, str], user: str = "AGENT") -> str:
    """A sign-in through Keycloak's login form; the console's session id (its cookie)."""
    async with httpx.AsyncClient(timeout=60) as http:
        begun = await http.get(console_url + "/login", params={"next": "/"})
        form_page = await http.get(begun.headers["location"])
        form = re.search(r'<form[^>]*id="kc-form-login"[^>]*>', form_page.text)
        assert form is not None, form_page.text[:500]
        action = re.search(r'action="([^"]+)"', form.group(0))
        assert action is not None
        # Keycloak's cookies are `Secure`, which a browser sends to 127.0.0.1 over plain
        # HTTP (a secure context) and httpx does not: sent by hand
        cookies = "; ".join(f"{c.name}={c.value}" for c in form_page.cookies.jar)
        posted = await http.post(
            html.unescape(action.group(1)),
            data={"username": env[f"KEYCLOAK_USER_{user}"],
                  "password": env[f"KEYCLOAK_PASSWORD_{user}"], "credentialId": ""},
            headers={"Cookie": cookies},
        )  # fmt: skip
        assert posted.status_code == 302, posted.text[:500]
        back = await http.get(posted.headers["location"])  # the console's callback
        assert back.status_code == 303, back.text[:500]
        return str(back.cookies["console_session"])


def _at_keycloak(env: dict[str, str], user: str = "AGENT") -> tuple[str, set[str]]:
    """The person's id (`sub`) and the ids (`sid`) of their sessions at Keycloak."""
    with keycloak_admin(env) as admin:
        found = admin.get("/users", params={"username": env[f"KEYCLOAK_USER_{user}"],
                                            "exact": "true"}).json()[0]  # fmt: skip
        sessions = admin.get(f"/users/{found['id']}/sessions").json()
    return found["id"], {session["id"] for session in sessions}


async def _signed_in_at_keycloak(console_url: str, env: dict[str, str]) -> tuple[str, str, str]:
    """A sign-in: the console's session id, and the Keycloak session (`sid`) and person
    (`sub`) it was made under."""
    _, before = _at_keycloak(env)
    session = await _sign_in(console_url, env)
    sub, after = _at_keycloak(env)
    [sid] = after - before
    return session, sid, sub


async def _access_expires_at(env: dict[str, str], session_id: str) -> datetime:
    async with _console_db(env) as conn:
        expires: datetime = await conn.fetchval(
            "SELECT access_expires_at FROM sessions WHERE id_hash = $1",
            hashlib.sha256(session_id.encode()).digest(),
        )
    return expires


async def _start_page(console_url: str, session_id: str) -> httpx.Response:
    cookies = {"console_session": session_id}
    async with httpx.AsyncClient(base_url=console_url, cookies=cookies, timeout=60) as client:
        return await client.get("/")


def _signed_in(page: httpx.Response) -> bool:
    if page.status_code == 303:
        assert page.headers["location"].startswith("/login")
        return False
    assert page.status_code == 200, page.status_code
    return True


async def test_a_session_keycloak_ends_is_refused_by_the_console_at_once(
    console: RunningService, keycloak: dict[str, str]
) -> None:
    ended, sid, _ = await _signed_in_at_keycloak(console.url, keycloak)
    other = await _sign_in(console.url, keycloak)
    assert _signed_in(await _start_page(console.url, ended))
    # its access token has minutes left: the console has no refresh to learn it from
    assert await _access_expires_at(keycloak, ended) > datetime.now(UTC) + timedelta(minutes=2)

    with keycloak_admin(keycloak) as admin:
        admin.delete(f"/sessions/{sid}").raise_for_status()  # an administrator ends it

    assert not _signed_in(await _start_page(console.url, ended))  # the very next request
    async with _console_db(keycloak) as conn:
        left = await conn.fetchval(
            "SELECT count(*) FROM sessions WHERE id_hash = $1",
            hashlib.sha256(ended.encode()).digest(),
        )
    assert left == 0  # its tokens are gone from the table too
    # the same person's other sign-in (another Keycloak session) goes on
    assert _signed_in(await _start_page(console.url, other))


def _bad_tokens(claims: dict[str, Any], key: RealmKey) -> dict[str, str]:
    no_events = {k: v for k, v in claims.items() if k != "events"}
    anonymous = {k: v for k, v in claims.items() if k not in ("sid", "sub")}
    return {
        "forged with another key": forged(claims, key.realm_kid),
        "unsigned": alg_none(claims, key.realm_kid),
        "wrong audience": key.sign(claims | {"aud": "hospital-api"}),
        "wrong issuer": key.sign(claims | {"iss": "http://127.0.0.1:1/realms/hospital"}),
        "no logout event": key.sign(no_events),
        "an ID token's nonce": key.sign(claims | {"nonce": "n"}),
        "neither sid nor sub": key.sign(anonymous),
        "not a JWT": "logout",
    }


async def test_a_forged_unsigned_or_wrong_audience_logout_token_is_refused_and_ends_nothing(
    console: RunningService, keycloak: dict[str, str], realm_key: RealmKey
) -> None:
    session, sid, sub = await _signed_in_at_keycloak(console.url, keycloak)
    now = int(time.time())
    claims = {
        "iss": keycloak["OIDC_ISSUER_URL"], "aud": "console", "iat": now, "exp": now + 120,
        "jti": str(uuid.uuid4()), "sid": sid, "sub": sub, "events": {LOGOUT_EVENT: {}},
    }  # fmt: skip
    async with httpx.AsyncClient(base_url=console.url, timeout=60) as client:
        for case, token in _bad_tokens(claims, realm_key).items():
            resp = await client.post(LOGOUT_PATH, data={"logout_token": token})
            assert resp.status_code == 400, (case, resp.status_code, resp.text)
            assert resp.json()["error"] == "invalid_request", case
            assert "logout_token" in resp.json()["error_description"], case
        missing = await client.post(LOGOUT_PATH, data={})
        assert missing.status_code == 400 and "logout_token" in missing.text
        assert _signed_in(await _start_page(console.url, session))
        # the same claims signed with a key the realm publishes: what failed above was only
        # what each case changed
        done = await client.post(LOGOUT_PATH, data={"logout_token": realm_key.sign(claims)})
        assert done.status_code == 200, done.text
    assert not _signed_in(await _start_page(console.url, session))
