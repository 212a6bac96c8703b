"""Kafka connection security from the settings (no broker: the TLS and SASL listener itself is
exercised in tests/integration/test_kafka_tls.py)."""

from __future__ import annotations

import ssl

import pytest
from pydantic import ValidationError

from hospital_shared.kafka_security import client_options
from hospital_shared.settings import service_settings_class

Settings = service_settings_class("probe", 8999)


def test_plaintext_is_the_default_and_adds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_SECURITY_PROTOCOL", raising=False)
    assert client_options(Settings()) == {}


def test_sasl_over_tls_verifies_the_broker_and_logs_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "followup")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cret")
    options = client_options(Settings())
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "followup",
        "s3cret",
    )
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_tls_without_a_login(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SSL")
    options = client_options(Settings())
    assert options["security_protocol"] == "SSL"
    assert "sasl_mechanism" not in options


@pytest.mark.parametrize(
    ("env", "says"),
    [
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "u"},
            "KAFKA_SASL_PASSWORD",
        ),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CERTFILE": "/c.pem"}, "KAFKA_SSL_KEYFILE"),
        ({"KAFKA_SSL_CAFILE": "/ca.pem"}, "KAFKA_SSL_CAFILE set, but"),
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL\\n  Input should be"),
    ],
)
def test_an_incomplete_setting_is_refused_naming_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], says: str
) -> None:
    for name in ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SSL_CAFILE", "KAFKA_SSL_CERTFILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=says):
        Settings()
