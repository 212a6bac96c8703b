"""Tokens from the stack's real Keycloak (realm `hospital`), and tokens made to look like
them, for the tests of what the services accept."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def _token_endpoint(env: dict[str, str]) -> str:
    return f"{env['OIDC_ISSUER_URL']}/protocol/openid-connect/token"


def password_token(env: dict[str, str], user: str) -> str:
    """An access token of dev user `user` (the password grant of the development CLI client)."""
    key = user.upper().replace("-", "_")
    resp = httpx.post(
        _token_endpoint(env),
        data={
            "grant_type": "password",
            "client_id": env["KEYCLOAK_CLI_CLIENT_ID"],
            "username": env[f"KEYCLOAK_USER_{key}"],
            "password": env[f"KEYCLOAK_PASSWORD_{key}"],
        },
        timeout=30,
    )
    resp.raise_for_status()
    return str(resp.json()["access_token"])


def system_token(env: dict[str, str]) -> str:
    """A hospital system's access token (client credentials)."""
    resp = httpx.post(
        _token_endpoint(env),
        data={"grant_type": "client_credentials"},
        auth=(env["KEYCLOAK_SYSTEMS_CLIENT_ID"], env["KEYCLOAK_SYSTEMS_CLIENT_SECRET"]),
        timeout=30,
    )
    resp.raise_for_status()
    return str(resp.json()["access_token"])


def unverified_claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def keycloak_admin(env: dict[str, str]) -> httpx.Client:
    resp = httpx.post(
        f"{env['KEYCLOAK_URL']}/realms/master/protocol/openid-connect/token",
        data={
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": env["KEYCLOAK_ADMIN_USERNAME"],
            "password": env["KEYCLOAK_ADMIN_PASSWORD"],
        },
        timeout=30,
    )
    resp.raise_for_status()
    headers = {"Authorization": f"Bearer {resp.json()['access_token']}"}
    # 90 s: adding a generated key makes Keycloak create an RSA key pair, which took over 30 s
    # in a loaded CI run
    return httpx.Client(base_url=f"{env['KEYCLOAK_URL']}/admin/realms/{env['KEYCLOAK_REALM']}",
                        headers=headers, timeout=90)  # fmt: skip


def add_key_provider(admin: httpx.Client, provider: str, priority: int, **config: str) -> str:
    """A signing key provider (`rsa`: a key given in `privateKey`; `rsa-generated`: one
    Keycloak makes) added to the realm, RS256, active: its component id."""
    realm_id = admin.get("").json()["id"]
    values = {"priority": str(priority), "enabled": "true", "active": "true",
              "algorithm": "RS256", **config}  # fmt: skip
    resp = admin.post(
        "/components",
        json={"name": f"test key {time.time_ns()}", "providerId": provider,
              "providerType": "org.keycloak.keys.KeyProvider", "parentId": realm_id,
              "config": {name: [value] for name, value in values.items()}},
    )  # fmt: skip
    resp.raise_for_status()
    return str(resp.headers["Location"].rsplit("/", 1)[1])


class RealmKey:
    """A signing key the test holds, added to the realm (a key provider of low priority, so
    Keycloak keeps signing with its own): Keycloak publishes it in the realm's JWKS, so a
    token signed with it passes the signature check and is refused, or not, for its claims."""

    def __init__(self, env: dict[str, str]) -> None:
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        with keycloak_admin(env) as admin:
            component = add_key_provider(admin, "rsa", 1, privateKey=pem)
            keys = admin.get("/keys").json()["keys"]
        self.kid = next(k["kid"] for k in keys if k.get("providerId") == component)
        # the kid Keycloak signs its own tokens with, for a forgery that names it
        self.realm_kid = next(
            k["kid"] for k in keys if k.get("algorithm") == "RS256" and k["kid"] != self.kid
            and k.get("status") == "ACTIVE" and k.get("providerPriority", 0) > 1
        )  # fmt: skip

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": self.kid})


@contextlib.contextmanager
def rotated_signing_key(env: dict[str, str]) -> Iterator[str]:
    """A key rotation at the realm, for the `with` block: a new generated RSA key of a higher
    priority than every key there, so Keycloak signs every new token with it (the old keys
    stay published, as after a rotation). Yields the new key's kid; removed after the block."""
    with keycloak_admin(env) as admin:
        top = max(k.get("providerPriority", 0) for k in admin.get("/keys").json()["keys"])
        component = add_key_provider(admin, "rsa-generated", top + 10, keySize="2048")
        try:
            keys = admin.get("/keys").json()["keys"]
            yield next(k["kid"] for k in keys if k.get("providerId") == component)
        finally:
            admin.delete(f"/components/{component}").raise_for_status()


def forged(claims: dict[str, Any], kid: str) -> str:
    """Signed with a key nobody published, naming the realm's own key id."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def alg_none(claims: dict[str, Any], kid: str) -> str:
    """An unsigned token (`alg: none`), made by hand."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{part(claims)}."
