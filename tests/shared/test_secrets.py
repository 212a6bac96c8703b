"""Secrets with public development values stop a production start, naming the variable."""

from __future__ import annotations

import importlib

import pytest

from hospital_shared.secrets import (
    DevelopmentSecretInProduction,
    public_secrets,
    refuse_dev_defaults,
)
from hospital_shared.settings import ServiceSettings

SERVICES = ("registration", "followup", "complaints", "notifications", "metrics")
OWN_DATABASE_URL = "postgresql://followup:Zq8-own-password@db1.hospital.lan/hospital"
# The deployment's own data keys (field_crypto.py): not the public development ones.
OWN_DATA_KEYS = {
    "data_encryption_key": "prod-2026:" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=",
    "data_hash_key": "a-long-random-search-hash-key",
}
OWN_NOTIFICATIONS = {
    "env": "production",
    "database_url": OWN_DATABASE_URL,
    **OWN_DATA_KEYS,
    "kannel_password": "Kx7-own-gateway-password",
    "survey_secret": "a-long-random-survey-link-secret",
}


@pytest.fixture(autouse=True)
def _no_stack_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """The defaults, whatever the environment the tests run in holds."""
    for name in (
        "ENV",
        "DATABASE_URL",
        "KAFKA_SASL_PASSWORD",
        "NOTIFICATIONS_CALLBACK_SECRET",
        "NOTIFICATIONS_KANNEL_PASSWORD",
        "NOTIFICATIONS_SURVEY_SECRET",
        "DATA_ENCRYPTION_KEY",
        "DATA_HASH_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


def settings_of(service: str, **values: str) -> ServiceSettings:
    settings_class: type[ServiceSettings] = importlib.import_module(f"{service}.settings").Settings
    return settings_class(**values)


def test_every_secret_with_a_development_default_is_found() -> None:
    """The inventory: the database password and the data keys in every service, and the
    notifications service's delivery-receipt signing secret, gateway password and the secret
    the survey links' tokens are made with (whoever holds it can open any survey link)."""
    found = {service: public_secrets(settings_of(service)) for service in SERVICES}
    common = ["DATABASE_URL", "DATA_ENCRYPTION_KEY", "DATA_HASH_KEY"]
    assert found == {
        "registration": common,
        "followup": common,
        "complaints": common,
        "metrics": common,
        "notifications": [
            *common,
            "NOTIFICATIONS_CALLBACK_SECRET",
            "NOTIFICATIONS_KANNEL_PASSWORD",
            "NOTIFICATIONS_SURVEY_SECRET",
        ],
    }


def test_production_refuses_a_default_naming_the_variable_but_not_its_value() -> None:
    settings = settings_of("notifications", **OWN_NOTIFICATIONS)
    with pytest.raises(DevelopmentSecretInProduction) as refused:
        refuse_dev_defaults(settings, is_development=False)
    message = str(refused.value)
    assert "NOTIFICATIONS_CALLBACK_SECRET" in message
    assert "dev-callback-secret" not in message
    assert "KANNEL" not in message and "DATABASE_URL" not in message


def test_a_development_or_test_stack_keeps_its_defaults() -> None:
    for service in SERVICES:
        refuse_dev_defaults(settings_of(service), is_development=True)


def test_production_with_its_own_secrets_starts() -> None:
    settings = settings_of(
        "notifications",
        **OWN_NOTIFICATIONS,
        callback_secret="a-long-random-signing-secret",
        kafka_sasl_password="Kafka-own-password",
    )
    assert public_secrets(settings) == []
    refuse_dev_defaults(settings, is_development=False)


@pytest.mark.parametrize(
    "database_url",
    [
        "postgresql://hospital:hospital@db1.hospital.lan:5432/ops",  # another host, same password
        "postgresql://hospital@db1.hospital.lan/ops?password=hospital&sslmode=verify-full",
    ],
)
def test_the_development_database_password_is_refused_wherever_it_is_written(
    database_url: str,
) -> None:
    settings = settings_of("followup", env="production", database_url=database_url, **OWN_DATA_KEYS)
    assert public_secrets(settings) == ["DATABASE_URL"]


def test_the_local_stacks_published_kafka_password_is_refused() -> None:
    settings = settings_of(
        "metrics",
        database_url=OWN_DATABASE_URL,
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="hospital",
        kafka_sasl_password="hospital-kafka-dev",
        **OWN_DATA_KEYS,
    )
    assert public_secrets(settings) == ["KAFKA_SASL_PASSWORD"]
