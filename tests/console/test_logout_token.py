"""The back-channel logout token's checks (console/backchannel.py), with keys made here: which
logout tokens count. The real Keycloak sending one: tests/e2e/test_console_backchannel_logout.py."""

from __future__ import annotations

import time
from typing import Any

import pytest

from console.backchannel import LOGOUT_EVENT, LogoutTokenRefused, check_logout_token
from console.oidc import OidcClient
from console.settings import Settings
from hospital_shared.jwt_auth import OidcConfig, TokenVerifier
from tests.shared.oidc_tokens import CONFIG, ISSUER, KEY, OTHER_KEY, FakeProvider, jwks_of, signed


def _client() -> OidcClient:
    client = OidcClient(Settings(), CONFIG)
    identity = OidcConfig(issuer=ISSUER, audience="console", jwks_url=CONFIG.jwks_url)
    client.identity = TokenVerifier(identity, FakeProvider(jwks_of(("k1", KEY))).fetch)
    return client


def _logout_claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER, "aud": "console", "iat": now, "exp": now + 120, "jti": "j-1",
        "sid": "kc-session-1", "sub": "u-1", "events": {LOGOUT_EVENT: {}},
    }  # fmt: skip
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize("without", ["sid", "sub"])
async def test_a_logout_token_naming_a_session_or_a_person_counts(without: str) -> None:
    """`exp` is only recommended for a logout token: one without it counts too."""
    claims = _logout_claims(**{without: None, "exp": None})
    assert await check_logout_token(_client(), signed(claims)) == claims


@pytest.mark.parametrize(
    ("case", "token"),
    [
        ("another key", signed(_logout_claims(), OTHER_KEY)),
        ("another audience", signed(_logout_claims(aud="hospital-api"))),
        ("another issuer", signed(_logout_claims(iss="https://evil.example/realms/hospital"))),
        ("expired", signed(_logout_claims(iat=1, exp=2))),
        ("no iat", signed(_logout_claims(iat=None))),
        ("no jti", signed(_logout_claims(jti=None))),
        ("no events", signed(_logout_claims(events=None))),
        ("another event", signed(_logout_claims(events={"urn:other": {}}))),
        ("the event not an object", signed(_logout_claims(events={LOGOUT_EVENT: "yes"}))),
        ("a nonce (an ID token)", signed(_logout_claims(nonce="n"))),
        ("neither sid nor sub", signed(_logout_claims(sid=None, sub=None))),
        ("an empty sid and no sub", signed(_logout_claims(sid="", sub=None))),
        ("unsigned", signed(_logout_claims(), None, alg="none")),
    ],
)
async def test_a_logout_token_that_does_not_check_out_is_refused(case: str, token: str) -> None:
    with pytest.raises(LogoutTokenRefused, match="logout_token"):
        await check_logout_token(_client(), token)
