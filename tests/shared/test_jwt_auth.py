"""Access tokens of the identity provider (hospital_shared.jwt_auth): which count, what they
map to, and when the provider's keys are fetched. Keys are made here; the real Keycloak's
tokens are checked by tests/integration/test_keycloak_tokens.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import RSAAlgorithm

from hospital_shared.auth import DevelopmentTokenInProduction, Role, load_tokens
from hospital_shared.jwt_auth import (
    InvalidToken,
    NoPlatformRole,
    OidcConfig,
    ProviderUnavailable,
    TokenVerifier,
)
from hospital_shared.settings import service_settings_class

ISSUER = "https://sso.hospital.example/realms/hospital"
CONFIG = OidcConfig(issuer=ISSUER, audience="hospital-api", jwks_url="https://sso/jwks")


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


KEY, OTHER_KEY = _key(), _key()


def _jwks(*pairs: tuple[str, rsa.RSAPrivateKey]) -> dict[str, Any]:
    keys = []
    for kid, key in pairs:
        jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        keys.append(jwk | {"kid": kid, "use": "sig", "alg": "RS256"})
    return {"keys": keys}


class FakeProvider:
    """The provider's JWKS endpoint: what it serves, how often it was asked."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self.jwks = jwks
        self.calls = 0
        self.down = False

    async def fetch(self, url: str) -> dict[str, Any]:
        self.calls += 1
        if self.down:
            raise ConnectionError("connection refused")
        return self.jwks


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER, "aud": ["hospital-api", "account"], "sub": "u-1", "exp": now + 300,
        "iat": now, "realm_access": {"roles": ["agent", "offline_access"]},
        "staff_id": "S-AGENT-01", "department": "CS", "name": "客服 王芳",
    }  # fmt: skip
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _token(claims: dict[str, Any], key: Any = KEY, kid: str = "k1", alg: str = "RS256") -> str:
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def _verifier(provider: FakeProvider | None = None) -> TokenVerifier:
    return TokenVerifier(CONFIG, (provider or FakeProvider(_jwks(("k1", KEY)))).fetch)


async def test_a_valid_token_is_the_person_its_claims_name() -> None:
    principal = await _verifier().principal(_token(_claims()))
    assert principal.role is Role.AGENT
    assert (principal.staff_id, principal.department, principal.name) == (
        "S-AGENT-01", "CS", "客服 王芳",
    )  # fmt: skip


def _none_alg(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, None, algorithm="none", headers={"kid": "k1"})


def _hs256_with_public_key(claims: dict[str, Any]) -> str:
    # Algorithm confusion: the public key (known to all) used as an HMAC secret; made by hand,
    # PyJWT refuses to make it.
    def part(data: dict[str, Any]) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=")

    secret = KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    signing_input = part({"alg": "HS256", "typ": "JWT", "kid": "k1"}) + b"." + part(claims)
    mac = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")).decode()


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("expired", lambda: _token(_claims(exp=int(time.time()) - 60))),
        ("not yet valid", lambda: _token(_claims(nbf=int(time.time()) + 600))),
        ("wrong audience", lambda: _token(_claims(aud="account"))),
        ("wrong issuer", lambda: _token(_claims(iss="https://evil.example/realms/hospital"))),
        ("forged with another key", lambda: _token(_claims(), key=OTHER_KEY)),
        ("alg none", lambda: _none_alg(_claims())),
        ("HS256 with the public key", lambda: _hs256_with_public_key(_claims())),
        ("no exp", lambda: _token(_claims(exp=None))),
        ("no kid", lambda: jwt.encode(_claims(), KEY, algorithm="RS256")),
        ("not a JWT", lambda: "a.b.c"),
    ],
)
async def test_these_tokens_are_refused(case: str, make: Any) -> None:
    with pytest.raises(InvalidToken):
        await _verifier().principal(make())


async def test_a_token_within_the_clock_leeway_still_counts() -> None:
    verifier = TokenVerifier(
        OidcConfig(issuer=ISSUER, audience="hospital-api", jwks_url="x", leeway_s=30),
        FakeProvider(_jwks(("k1", KEY))).fetch,
    )
    principal = await verifier.principal(_token(_claims(exp=int(time.time()) - 5)))
    assert principal.staff_id == "S-AGENT-01"


async def test_the_most_powerful_platform_role_is_taken_and_other_roles_are_ignored() -> None:
    token = _token(_claims(realm_access={"roles": ["uma_authorization", "agent", "supervisor"]}))
    assert (await _verifier().principal(token)).role is Role.SUPERVISOR


async def test_a_valid_token_without_a_platform_role_is_refused_as_forbidden() -> None:
    token = _token(_claims(realm_access={"roles": ["offline_access"]}))
    with pytest.raises(NoPlatformRole):
        await _verifier().principal(token)


async def test_a_client_credentials_token_is_a_hospital_system() -> None:
    claims = _claims(realm_access={"roles": ["integration"]}, staff_id=None, department=None)
    claims.pop("name")
    claims["preferred_username"] = "service-account-hospital-systems"
    principal = await _verifier().principal(_token(claims))
    assert principal.role is Role.INTEGRATION and principal.staff_id is None
    assert principal.name == "service-account-hospital-systems"


async def _on_a_clock() -> tuple[list[float], FakeProvider, TokenVerifier]:
    """A verifier on a clock the test moves (`now[0]`), that has fetched the keys once."""
    now = [1000.0]
    provider = FakeProvider(_jwks(("k1", KEY)))
    verifier = TokenVerifier(CONFIG, provider.fetch)
    verifier.keys._clock = lambda: now[0]
    await verifier.principal(_token(_claims()))
    return now, provider, verifier


async def test_an_unknown_key_id_fetches_the_keys_again_at_most_once_per_interval() -> None:
    now, provider, verifier = await _on_a_clock()
    assert provider.calls == 1
    # The provider rotates: k2 appears. A token signed with it is taken after one fetch ...
    provider.jwks = _jwks(("k1", KEY), ("k2", OTHER_KEY))
    now[0] += CONFIG.jwks_min_refresh_s
    await verifier.principal(_token(_claims(), key=OTHER_KEY, kid="k2"))
    assert provider.calls == 2
    # ... and made-up key ids right after cost no fetch at all until the interval has passed.
    for n in range(20):
        with pytest.raises(InvalidToken):
            await verifier.principal(_token(_claims(), kid=f"made-up-{n}"))
    assert provider.calls == 2
    now[0] += CONFIG.jwks_min_refresh_s
    with pytest.raises(InvalidToken):
        await verifier.principal(_token(_claims(), kid="made-up-again"))
    assert provider.calls == 3


async def test_cached_keys_serve_while_the_provider_is_away_and_refresh_after_max_age() -> None:
    now, provider, verifier = await _on_a_clock()
    provider.down = True
    now[0] += CONFIG.jwks_max_age_s
    assert (await verifier.principal(_token(_claims()))).role is Role.AGENT
    provider.down = False
    now[0] += CONFIG.jwks_min_refresh_s
    await verifier.principal(_token(_claims()))
    assert provider.calls == 3


async def test_a_provider_never_reached_is_unavailable_not_a_bad_token() -> None:
    provider = FakeProvider(_jwks(("k1", KEY)))
    provider.down = True
    with pytest.raises(ProviderUnavailable):
        await _verifier(provider).principal(_token(_claims()))


async def test_the_keys_are_found_through_the_discovery_document() -> None:
    served = {
        f"{ISSUER}/.well-known/openid-configuration": {"jwks_uri": "https://sso/certs"},
        "https://sso/certs": _jwks(("k1", KEY)),
    }

    async def fetch(url: str) -> dict[str, Any]:
        return served[url]

    verifier = TokenVerifier(OidcConfig(issuer=ISSUER, audience="hospital-api"), fetch)
    assert (await verifier.principal(_token(_claims()))).staff_id == "S-AGENT-01"


def test_production_with_an_identity_provider_needs_no_static_tokens() -> None:
    assert load_tokens(None, env="production", identity_provider=True) == {}
    with pytest.raises(DevelopmentTokenInProduction):
        load_tokens(
            '{"dev-admin-token": {"role": "admin"}}', env="production", identity_provider=True
        )


@pytest.mark.parametrize("algorithms", ['["HS256"]', '["none"]', '["RS256", "HS512"]'])
def test_settings_refuse_algorithms_that_are_not_public_key_signatures(
    monkeypatch: pytest.MonkeyPatch, algorithms: str
) -> None:
    monkeypatch.setenv("OIDC_ALGORITHMS", algorithms)
    with pytest.raises(ValueError, match="OIDC_ALGORITHMS"):
        service_settings_class("followup", 8002)()
