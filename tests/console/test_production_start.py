"""The console, like every service, will not start in production with a development secret
(the public database password, the development realm's client secret), nor without a client
secret at all, and sends its session cookie only over HTTPS there."""

from __future__ import annotations

import pytest

from console.app import create_app
from console.oidc import NoClientSecret, refuse_public_client
from console.settings import Settings
from devstack import keycloak
from hospital_shared.secrets import (
    PUBLISHED,
    DevelopmentSecretInProduction,
    refuse_dev_defaults,
)

OWN = {
    "env": "production",
    "database_url": "postgresql://console:Own-pass-1@db.hospital.lan/hospital",
    "data_encryption_key": "prod-2026:" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=",
    "data_hash_key": "a-long-random-search-hash-key",
}


@pytest.fixture(autouse=True)
def _no_stack_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """The defaults, whatever the environment the tests run in holds."""
    for name in ("DATABASE_URL", "DATA_ENCRYPTION_KEY", "DATA_HASH_KEY",
                 "CONSOLE_OIDC_CLIENT_SECRET"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def test_production_with_the_development_database_password_does_not_start() -> None:
    with pytest.raises(DevelopmentSecretInProduction, match="DATABASE_URL"):
        create_app(Settings(env="production"))


def test_production_with_the_development_realms_client_secret_does_not_start() -> None:
    """`dev-console-secret` is in the development realm, the compose file and `.stack/env`:
    with it, anyone can exchange the console's sign-in codes and refresh tokens."""
    secret = keycloak.client_secrets()["console"]
    assert secret in PUBLISHED["oidc_client_secret"]
    with pytest.raises(DevelopmentSecretInProduction) as refused:
        create_app(Settings(**OWN, oidc_client_secret=secret))
    assert "CONSOLE_OIDC_CLIENT_SECRET" in str(refused.value)
    assert secret not in str(refused.value)


def test_production_without_a_client_secret_does_not_start() -> None:
    with pytest.raises(NoClientSecret, match="CONSOLE_OIDC_CLIENT_SECRET"):
        create_app(Settings(**OWN))


def test_production_with_its_own_client_secret_and_development_without_one_pass() -> None:
    # The checks create_app makes, called alone: a started app would keep OWN's data keys
    # (field_crypto) for the tests after this one.
    own = Settings(**OWN, oidc_client_secret="a-long-random-client-secret")
    refuse_dev_defaults(own, is_development=False)
    refuse_public_client(own, is_development=False)
    refuse_public_client(Settings(env="development"), is_development=True)


def test_the_session_cookie_is_https_only_outside_a_development_stack() -> None:
    assert Settings(**OWN).secure_cookie
    assert not Settings(env="development").secure_cookie
    assert Settings(env="development", cookie_secure=True).secure_cookie
