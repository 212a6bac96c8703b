"""Access tokens of the identity provider (hospital_shared.jwt_auth): which count and what
they map to (when the provider's keys are fetched: test_jwks.py). Keys are made here; the real
Keycloak's tokens are checked by tests/integration/test_keycloak_tokens.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
import structlog
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import HTTPException

from hospital_shared.auth import DevelopmentTokenInProduction, Role, TokenAuth, load_tokens
from hospital_shared.jwt_auth import InvalidToken, NoPlatformRole, OidcConfig, TokenVerifier
from hospital_shared.settings import service_settings_class
from tests.shared.oidc_tokens import (
    ISSUER,
    KEY,
    OTHER_KEY,
    FakeProvider,
    access_claims,
    default_verifier,
    jwks_of,
    signed,
)


async def test_a_valid_token_is_the_person_its_claims_name() -> None:
    principal = await default_verifier().principal(signed(access_claims()))
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
        ("expired", lambda: signed(access_claims(exp=int(time.time()) - 60))),
        ("not yet valid", lambda: signed(access_claims(nbf=int(time.time()) + 600))),
        ("wrong audience", lambda: signed(access_claims(aud="account"))),
        ("wrong issuer", lambda: signed(access_claims(iss="https://evil.example/realms/hospital"))),
        ("forged with another key", lambda: signed(access_claims(), key=OTHER_KEY)),
        ("alg none", lambda: _none_alg(access_claims())),
        ("HS256 with the public key", lambda: _hs256_with_public_key(access_claims())),
        ("no exp", lambda: signed(access_claims(exp=None))),
        ("no kid", lambda: jwt.encode(access_claims(), KEY, algorithm="RS256")),
        ("not a JWT", lambda: "a.b.c"),
    ],
)
async def test_these_tokens_are_refused(case: str, make: Any) -> None:
    with pytest.raises(InvalidToken):
        await default_verifier().principal(make())


async def test_a_token_within_the_clock_leeway_still_counts() -> None:
    verifier = TokenVerifier(
        OidcConfig(issuer=ISSUER, audience="hospital-api", jwks_url="x", leeway_s=30),
        FakeProvider(jwks_of(("k1", KEY))).fetch,
    )
    principal = await verifier.principal(signed(access_claims(exp=int(time.time()) - 5)))
    assert principal.staff_id == "S-AGENT-01"


async def test_the_most_powerful_platform_role_is_taken_and_other_roles_are_ignored() -> None:
    token = signed(
        access_claims(realm_access={"roles": ["uma_authorization", "agent", "supervisor"]})
    )
    assert (await default_verifier().principal(token)).role is Role.SUPERVISOR


async def test_a_valid_token_without_a_platform_role_is_refused_as_forbidden() -> None:
    token = signed(access_claims(realm_access={"roles": ["offline_access"]}))
    with pytest.raises(NoPlatformRole):
        await default_verifier().principal(token)


async def test_a_client_credentials_token_is_a_hospital_system() -> None:
    claims = access_claims(realm_access={"roles": ["integration"]}, staff_id=None, department=None)
    claims.pop("name")
    claims["preferred_username"] = "service-account-hospital-systems"
    principal = await default_verifier().principal(signed(claims))
    assert principal.role is Role.INTEGRATION and principal.staff_id is None
    assert principal.name == "service-account-hospital-systems"


def _clients_verifier(allowed: tuple[str, ...]) -> TokenVerifier:
    config = OidcConfig(issuer=ISSUER, audience="hospital-api", jwks_url="x",
                        allowed_clients=allowed)  # fmt: skip
    return TokenVerifier(config, FakeProvider(jwks_of(("k1", KEY))).fetch)


PRODUCTION_CLIENTS = ("console", "hospital-systems")


@pytest.mark.parametrize("client", PRODUCTION_CLIENTS)
async def test_a_token_of_an_allowed_client_counts(client: str) -> None:
    token = signed(access_claims(azp=client))
    assert (await _clients_verifier(PRODUCTION_CLIENTS).principal(token)).role is Role.AGENT


@pytest.mark.parametrize("client", ["hospital-cli", "account", None])
async def test_a_token_of_another_client_is_refused_with_401_and_the_reason_logged(
    client: str | None,
) -> None:
    """The development CLI's password grant skips the browser sign-in's one-time password:
    with the production clients allowed, its tokens (and those naming no client) get the
    usual 401; the log says why, the answer does not name the clients that count."""
    auth = TokenAuth({}, _clients_verifier(PRODUCTION_CLIENTS))
    with structlog.testing.capture_logs() as logs:
        with pytest.raises(HTTPException) as refused:
            await auth.authenticate(signed(access_claims(azp=client)))
    assert refused.value.status_code == 401
    assert not any(name in str(refused.value.detail) for name in PRODUCTION_CLIENTS)
    (line,) = [entry for entry in logs if "OIDC_ALLOWED_CLIENTS" in entry["event"]]
    assert line["log_level"] == "warning" and line["azp"] == client
    assert repr(client) in line["event"] and line["sub"] == "u-1"


async def test_without_allowed_clients_any_clients_token_counts() -> None:
    token = signed(access_claims(azp="hospital-cli"))
    assert (await default_verifier().principal(token)).staff_id == "S-AGENT-01"


def test_the_allowed_clients_are_a_json_list_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OIDC_ISSUER_URL", ISSUER)
    monkeypatch.setenv("OIDC_ALLOWED_CLIENTS", '["console", "hospital-systems"]')
    config = OidcConfig.from_settings(service_settings_class("followup", 8002)())
    assert config is not None and config.allowed_clients == PRODUCTION_CLIENTS
    monkeypatch.delenv("OIDC_ALLOWED_CLIENTS")
    config = OidcConfig.from_settings(service_settings_class("followup", 8002)())
    assert config is not None and config.allowed_clients == ()


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
