"""With `OIDC_ALLOWED_CLIENTS` naming the production clients (the console and the hospital
systems' client), a service refuses the real Keycloak's tokens of the development CLI client
(a password grant, which skips whatever the hospital adds to the browser's sign-in) with the
usual 401, and says why in its log; the hospital systems' tokens still count."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.keycloak_tokens import password_token, system_token, unverified_claims
from tests.integration.services import RunningService, running
from tests.kafka_tools import eventually

pytestmark = pytest.mark.stack
PRODUCTION_CLIENTS = ["console", "hospital-systems"]


@pytest.fixture(scope="module")
def complaints(stack_config: Any, keycloak: dict[str, str]) -> Iterator[RunningService]:
    env = {"OIDC_ALLOWED_CLIENTS": json.dumps(PRODUCTION_CLIENTS)}
    with running(stack_config, "complaints", env) as service:
        yield service


def _me(service: RunningService, token: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.get(f"{service.url}/v1/me", headers=headers, timeout=30)


async def test_the_development_cli_clients_token_is_refused_and_the_log_says_why(
    complaints: RunningService, keycloak: dict[str, str]
) -> None:
    token = password_token(keycloak, "agent")
    assert unverified_claims(token)["azp"] == keycloak["KEYCLOAK_CLI_CLIENT_ID"]
    resp = _me(complaints, token)
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"] == "Bearer"
    assert not any(client in resp.text for client in PRODUCTION_CLIENTS)

    def refusal_logged() -> bool:
        return "'hospital-cli' is not in OIDC_ALLOWED_CLIENTS" in complaints.log

    await eventually(refusal_logged, timeout=10)


def test_a_hospital_systems_token_still_counts(
    complaints: RunningService, keycloak: dict[str, str]
) -> None:
    resp = _me(complaints, system_token(keycloak))
    assert resp.status_code == 200, resp.text
    assert resp.json()["role"] == "integration"
