"""How the services reach Kafka: in plain text on a closed network (the default), or over TLS,
optionally with a SASL login, as a hospital's broker on another host should require
(patient names and phone numbers travel in the events).

One place builds it from the settings (`KAFKA_SECURITY_PROTOCOL`, `KAFKA_SSL_*`,
`KAFKA_SASL_*`): FastStream's broker takes `security(settings)`, every aiokafka client the
services make themselves (the outbox producer, the metrics lag reader) takes
`client_options(settings)`, the same options FastStream derives from it.
"""

from __future__ import annotations

from typing import Any

from aiokafka.helpers import create_ssl_context
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from hospital_shared.settings import ServiceSettings

_SASL = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}


def security(settings: ServiceSettings) -> BaseSecurity | None:
    """FastStream's security for the configured protocol; None for PLAINTEXT."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    use_ssl = protocol in ("SSL", "SASL_SSL")
    ssl_context = (
        create_ssl_context(
            cafile=settings.kafka_ssl_cafile,
            certfile=settings.kafka_ssl_certfile,
            keyfile=settings.kafka_ssl_keyfile,
        )
        if use_ssl
        else None
    )
    if protocol == "SSL":
        return BaseSecurity(ssl_context=ssl_context, use_ssl=True)
    sasl = _SASL[settings.kafka_sasl_mechanism]
    return sasl(
        username=settings.kafka_sasl_username or "",
        password=settings.kafka_sasl_password or "",
        ssl_context=ssl_context,
        use_ssl=use_ssl,
    )


def client_options(settings: ServiceSettings) -> dict[str, Any]:
    """Keyword arguments for an aiokafka client (producer, consumer, admin) of the service."""
    return parse_security(security(settings))
