"""The SMS provider interface. Kannel is the first provider; another (Aliyun SMS, SMPP via
smpplib) is a new module implementing `SmsProvider` plus one line in `PROVIDERS`.

A provider tells the dispatcher exactly one of four things about a hand-over:
- ACCEPTED: the gateway took it (maybe with its own message reference);
- RETRY: it certainly did not take it (connection refused, queue full): safe to try again;
  `gateway_away` when it could not be reached or said it is unavailable (an outage: the
  message waits for it until it expires, notifications/retries.py);
- REJECTED: it refused it for good (bad request): failed, with the reason;
- UNKNOWN: the request may have reached it (timeout after sending, connection cut): never
  re-sent automatically, so that a patient never gets the same SMS twice.

When the service lost track of a hand-over (it died, or the answer was lost), `lookup` asks
the gateway's own records what became of those messages (`GatewayRecord`); a message the
gateway has no record of stays unknown.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    RETRY = "retry"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


class GatewayRecord(StrEnum):
    """What the gateway's own records say about a message."""

    SENT = "sent"  # handed to the operator: wait for its receipt, never send it again
    REFUSED = "refused"  # the gateway gave it up (failed, rejected, discarded, expired)


@dataclass(frozen=True, slots=True)
class OutgoingSms:
    message_id: str  # ours; the provider echoes it in receipts
    to: str  # E.164
    text: str
    encoding: str  # gsm7 | ucs2
    receipt_url: str  # where the provider should report delivery


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Outcome
    detail: str = ""
    provider_ref: str | None = None
    gateway_away: bool = False  # RETRY because the gateway is unreachable or unavailable


class SmsProvider(Protocol):
    name: str

    async def send(self, sms: OutgoingSms) -> SendResult: ...

    async def lookup(self, message_ids: Collection[str]) -> dict[str, GatewayRecord]:
        """The gateway's record of each of these messages that it has one of."""
        ...

    async def aclose(self) -> None: ...
