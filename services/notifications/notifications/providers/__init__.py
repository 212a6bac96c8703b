"""SMS providers, by the name `NOTIFICATIONS_SMS_PROVIDER` selects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from notifications.providers.base import (
    GatewayRecord,
    Outcome,
    OutgoingSms,
    SendResult,
    SmsProvider,
)
from notifications.providers.kannel import KannelProvider


def _kannel(settings: Any) -> SmsProvider:
    return KannelProvider(
        url=settings.kannel_url,
        username=settings.kannel_username,
        password=settings.kannel_password,
        sender=settings.sms_sender,
        timeout_s=settings.gateway_timeout_s,
        smsc=settings.kannel_smsc or None,
        access_log=settings.kannel_access_log,
        connections=settings.dispatch_concurrency,
    )


# name -> factory(settings). A second provider adds one entry here.
PROVIDERS: dict[str, Callable[[Any], SmsProvider]] = {"kannel": _kannel}


def make_provider(settings: Any) -> SmsProvider:
    try:
        return PROVIDERS[settings.sms_provider](settings)
    except KeyError:
        raise ValueError(
            f"unknown SMS provider {settings.sms_provider!r}; known: {', '.join(PROVIDERS)}"
        ) from None


__all__ = [
    "PROVIDERS",
    "GatewayRecord",
    "Outcome",
    "OutgoingSms",
    "SendResult",
    "SmsProvider",
    "make_provider",
]
