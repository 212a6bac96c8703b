"""A key rotation at the real Keycloak right after a token with a made-up key id: the first
tokens signed with the new key count at once (hospital_shared.jwt_auth; the audit found them
refused with 401 until the made-up id's 30 s gate had passed)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from tests.integration.keycloak_tokens import (
    forged,
    rotated_signing_key,
    system_token,
    unverified_claims,
)
from tests.integration.services import RunningService, running

pytestmark = pytest.mark.stack
# A gate far longer than the test, so that the rotation falls inside it however slowly this
# machine runs the admin calls; and fetches allowed 0.1 s apart instead of 1 s, so that the
# new key's token, however soon it comes, is not within the floor between two fetches.
SERVICE_ENV = {"OIDC_JWKS_MIN_REFRESH_S": "600", "OIDC_JWKS_MIN_FETCH_INTERVAL_S": "0.1"}


@pytest.fixture(scope="module")
def metrics(stack_config: Any, keycloak: dict[str, str]) -> Iterator[RunningService]:
    with running(stack_config, "metrics", SERVICE_ENV) as service:
        yield service


def _me(service: RunningService, token: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.get(f"{service.url}/v1/me", headers=headers, timeout=30)


def test_a_rotated_key_counts_at_once_after_a_made_up_key_id(
    metrics: RunningService, keycloak: dict[str, str]
) -> None:
    before = system_token(keycloak)
    assert _me(metrics, before).status_code == 200  # the realm's keys are fetched
    made_up = forged(unverified_claims(before), kid=f"made-up-{uuid.uuid4().hex}")
    assert _me(metrics, made_up).status_code == 401  # an anonymous caller's made-up key id
    with rotated_signing_key(keycloak) as new_kid:
        after = system_token(keycloak)
        assert jwt.get_unverified_header(after)["kid"] == new_kid
        resp = _me(metrics, after)
        assert resp.status_code == 200, resp.text
        assert resp.json()["role"] == "integration"
