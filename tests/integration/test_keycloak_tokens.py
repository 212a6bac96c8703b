"""Every service takes the stack's real Keycloak's access tokens as the person (or hospital
system) they were issued to, and refuses with 401 the tokens that must not count: expired,
not yet valid, forged, for another audience or issuer, unsigned."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from devstack import SERVICES as ALL_SERVICES
from tests.integration.keycloak_tokens import (
    RealmKey,
    alg_none,
    forged,
    password_token,
    system_token,
    unverified_claims,
)
from tests.integration.services import RunningService, running_all

pytestmark = pytest.mark.stack
# The five services with an API of their own (the console is a client of theirs).
SERVICES = [name for name in ALL_SERVICES if name != "console"]


@pytest.fixture(scope="module")
def realm_key(keycloak: dict[str, str]) -> RealmKey:
    # Added before any service has fetched the realm's keys.
    return RealmKey(keycloak)


@pytest.fixture(scope="module")
def services(
    stack_config: Any, keycloak: dict[str, str], realm_key: RealmKey
) -> Iterator[dict[str, RunningService]]:
    with running_all(stack_config, SERVICES) as running:
        yield running


def _me(services: dict[str, RunningService], token: str) -> dict[str, httpx.Response]:
    headers = {"Authorization": f"Bearer {token}"}
    return {
        name: httpx.get(f"{service.url}/v1/me", headers=headers, timeout=30)
        for name, service in services.items()
    }


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("agent", {"role": "agent", "staff_id": "S-AGENT-01", "department": "CS"}),
        ("ward-supervisor", {"role": "supervisor", "staff_id": "S-SUP-02", "department": "CARD"}),
        ("admin", {"role": "admin", "staff_id": "S-ADMIN-01", "department": None}),
    ],
)
def test_a_keycloak_token_of_a_dev_user_is_that_person_in_every_service(
    services: dict[str, RunningService],
    keycloak: dict[str, str],
    user: str,
    expected: dict[str, Any],
) -> None:
    answers = _me(services, password_token(keycloak, user))
    for name, resp in answers.items():
        assert resp.status_code == 200, (name, resp.text)
        assert {k: resp.json()[k] for k in expected} == expected, name


def test_a_hospital_systems_client_credentials_token_is_integration_everywhere(
    services: dict[str, RunningService], keycloak: dict[str, str]
) -> None:
    for name, resp in _me(services, system_token(keycloak)).items():
        assert resp.status_code == 200, (name, resp.text)
        assert resp.json()["role"] == "integration" and resp.json()["staff_id"] is None, name


def _bad_tokens() -> dict[str, Callable[[dict[str, Any], RealmKey], str]]:
    now = int(time.time())
    return {
        "expired": lambda c, k: k.sign(c | {"iat": now - 900, "exp": now - 600}),
        "not yet valid": lambda c, k: k.sign(c | {"nbf": now + 600, "exp": now + 900}),
        "forged with another key": lambda c, k: forged(c, k.realm_kid),
        "wrong audience": lambda c, k: k.sign(c | {"aud": ["account"]}),
        "wrong issuer": lambda c, k: k.sign(c | {"iss": "http://127.0.0.1:1/realms/hospital"}),
        "alg none": lambda c, k: alg_none(c, k.realm_kid),
    }


@pytest.mark.parametrize("case", list(_bad_tokens()))
def test_every_service_refuses_a_bad_token_with_401(
    services: dict[str, RunningService], keycloak: dict[str, str], realm_key: RealmKey, case: str
) -> None:
    claims = unverified_claims(password_token(keycloak, "agent"))
    # The same claims, signed with the test's realm key, count: what makes the token below
    # fail is only what the case changes.
    for name, resp in _me(services, realm_key.sign(claims)).items():
        assert resp.status_code == 200, (name, resp.text)
    token = _bad_tokens()[case](claims, realm_key)
    for name, resp in _me(services, token).items():
        assert resp.status_code == 401, (case, name, resp.status_code, resp.text)
        assert resp.headers["WWW-Authenticate"] == "Bearer", name
