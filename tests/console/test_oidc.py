"""The console's OIDC client without a provider: PKCE as RFC 7636 computes it, and the
addresses it sends the browser to."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from console.oidc import OidcClient, Pkce, SignInFailed, Tokens
from console.settings import Settings
from hospital_shared.jwt_auth import OidcConfig, ProviderUnavailable

META = {
    "authorization_endpoint": "https://sso.example/auth",
    "token_endpoint": "https://sso.example/token",
    "end_session_endpoint": "https://sso.example/logout",
}


def _client() -> OidcClient:
    client = OidcClient(
        Settings(), OidcConfig(issuer="https://sso.example/realms/h", audience="hospital-api")
    )
    client._metadata = dict(META)
    return client


def _query(url: str) -> dict[str, Any]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_the_code_challenge_is_rfc_7636s_s256_of_the_verifier() -> None:
    # RFC 7636, appendix B
    pkce = Pkce("state", "nonce", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
    assert pkce.challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_every_sign_in_has_its_own_secrets() -> None:
    first, second = Pkce.new(), Pkce.new()
    assert len({first.state, first.nonce, first.verifier, second.state, second.verifier}) == 5
    assert len(first.verifier) >= 43  # RFC 7636: 43 to 128 characters


async def test_the_authorization_url_asks_for_a_code_with_pkce_state_and_nonce() -> None:
    pkce = Pkce.new()
    url = await _client().authorization_url(pkce, "http://127.0.0.1:8006/auth/callback")
    assert url.startswith("https://sso.example/auth?")
    query = _query(url)
    assert query == {
        "response_type": "code",
        "client_id": "console",
        "redirect_uri": "http://127.0.0.1:8006/auth/callback",
        "scope": "openid profile email",
        "state": pkce.state,
        "nonce": pkce.nonce,
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
    }
    assert pkce.verifier not in url


async def test_logout_goes_to_the_end_session_endpoint_with_the_id_token_hint() -> None:
    url = await _client().end_session_url("the.id.token", "http://127.0.0.1:8006/")
    assert url is not None and url.startswith("https://sso.example/logout?")
    assert _query(url) == {
        "client_id": "console",
        "id_token_hint": "the.id.token",
        "post_logout_redirect_uri": "http://127.0.0.1:8006/",
    }


def _away(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectTimeout("timed out", request=request)


@pytest.mark.parametrize(
    ("provider", "outcome"),
    [
        (_away, ProviderUnavailable),
        (lambda r: httpx.Response(503, text="Service Unavailable"), ProviderUnavailable),
        (lambda r: httpx.Response(200, text="<html>proxy error</html>"), ProviderUnavailable),
        (lambda r: httpx.Response(400, json={"error": "invalid_grant"}), SignInFailed),
        (lambda r: httpx.Response(200, json={"refresh_token": "r"}), SignInFailed),
    ],
    ids=["no answer", "5xx", "not JSON", "invalid_grant", "no access token"],
)
async def test_a_provider_away_is_unavailable_and_a_refused_or_empty_grant_a_failed_sign_in(
    provider: Any, outcome: type[Exception]
) -> None:
    """Sign in again only when the provider said no; try again later when it was away (the
    refresh token may still be good). Both were a 500 for any answer but a 4xx."""
    client = OidcClient(
        Settings(),
        OidcConfig(issuer="https://sso.example/realms/h", audience="hospital-api"),
        transport=httpx.MockTransport(provider),
    )
    client._metadata = dict(META)
    with pytest.raises(outcome):
        await client.refresh("refresh-1")


def _jwt(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, "the provider's own key, not the console's", algorithm="HS256")


@pytest.mark.parametrize(
    ("scope", "refresh_token", "offline"),
    [
        ("openid profile email", _jwt({"typ": "Refresh"}), False),
        ("openid profile email", _jwt({"typ": "Offline"}), True),
        ("openid offline_access", "an-opaque-refresh-token", True),
        ("", "an-opaque-refresh-token", False),
        ("openid", None, False),
    ],
)
def test_an_offline_grant_is_known_by_its_scope_or_its_refresh_tokens_typ(
    scope: str, refresh_token: str | None, offline: bool
) -> None:
    assert Tokens("access", refresh_token, "id", 300, scope).offline is offline
