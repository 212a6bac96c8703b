"""The console, like every service, will not start in production with a development secret
(the public database password), and sends its session cookie only over HTTPS there."""

from __future__ import annotations

import pytest

from console.app import create_app
from console.settings import Settings
from hospital_shared.secrets import DevelopmentSecretInProduction


def test_production_with_the_development_database_password_does_not_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(DevelopmentSecretInProduction, match="DATABASE_URL"):
        create_app(Settings(env="production"))


def test_the_session_cookie_is_https_only_outside_a_development_stack() -> None:
    own = "postgresql://console:Own-pass-1@db.hospital.lan/hospital"
    assert Settings(env="production", database_url=own).secure_cookie
    assert not Settings(env="development").secure_cookie
    assert Settings(env="development", cookie_secure=True).secure_cookie
