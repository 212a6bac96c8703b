"""Tokens and a JWKS endpoint made in the test, for the unit tests of access tokens
(hospital_shared.jwt_auth, hospital_shared.jwks)."""

from __future__ import annotations

import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from hospital_shared.jwt_auth import OidcConfig, TokenVerifier

ISSUER = "https://sso.hospital.example/realms/hospital"
CONFIG = OidcConfig(issuer=ISSUER, audience="hospital-api", jwks_url="https://sso/jwks")


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


KEY, OTHER_KEY = _new_key(), _new_key()


def jwks_of(*pairs: tuple[str, rsa.RSAPrivateKey]) -> dict[str, Any]:
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


def access_claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER, "aud": ["hospital-api", "account"], "sub": "u-1", "exp": now + 300,
        "iat": now, "realm_access": {"roles": ["agent", "offline_access"]},
        "staff_id": "S-AGENT-01", "department": "CS", "name": "客服 王芳",
    }  # fmt: skip
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def signed(claims: dict[str, Any], key: Any = KEY, kid: str = "k1", alg: str = "RS256") -> str:
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def default_verifier(provider: FakeProvider | None = None) -> TokenVerifier:
    return TokenVerifier(CONFIG, (provider or FakeProvider(jwks_of(("k1", KEY)))).fetch)
