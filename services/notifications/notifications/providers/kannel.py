"""Kannel's HTTP `sendsms` interface (smsbox), with delivery receipts to our `dlr-url`, and
bearerbox's access log as Kannel's record of what it sent (`kannel_log`)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

import aiohttp

from notifications.providers.base import GatewayRecord, Outcome, OutgoingSms, SendResult
from notifications.providers.kannel_log import find_in_access_log, rotated_and_current

# dlr-mask 19: the outcomes only, delivered (1), undelivered (2), rejected (16). Not "queued
# on SMSC" (4) nor "SMSC ack" (8): both mean `submitted`, which the dispatcher records when
# Kannel accepts the SMS, and the ack cost Kannel a second callback per SMS: 35% of its CPU
# per SMS (0.75 -> 0.49 ms, bench/smsc.py, docs/bench.md session 14).
DLR_MASK = 19

# The request reached no one, so it can be tried again: refused or failed connections, and a
# connection not made (or not free in the pool) in time. Any other failure may come after
# smsbox took the request.
_NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
# The answer that says the gateway is away, not that it refuses this request: unavailable
# (Kannel's own, bearerbox away). A 502 or 504 comes from a proxy in front of it, which may
# have passed the request on before giving up: retried under the attempt cap only, as any
# other 5xx, never until the message expires (a slow Kannel behind a proxy would send copies).
_UNAVAILABLE = frozenset({503})


class KannelProvider:
    name = "kannel"

    def __init__(
        self,
        *,
        url: str,
        username: str,
        password: str,
        sender: str,
        timeout_s: float = 10.0,
        smsc: str | None = None,
        access_log: str = "",
        connections: int = 20,
    ) -> None:
        """`connections`: kept alive to smsbox, one per send under way (the dispatcher's
        slots); more sends at once wait for one, at most the connect timeout."""
        self._url = url
        self._auth = {"username": username, "password": password}
        self._sender = sender
        self._smsc = smsc
        self._access_log = access_log
        self._connections = connections
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, connect=min(5, timeout_s))
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        """The one aiohttp session, made in the running event loop at the first send. aiohttp,
        not httpx: 0.10-0.12 against 0.66-0.77 ms of CPU per `sendsms`, 1 or 40 under way,
        with an httpx client per send (bench/sendsms_client.py, docs/bench.md
        sessions 15 and 16)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections, limit_per_host=0),
                timeout=self._timeout,
            )
            # aiohttp sends a GET again, once, when its connection failed during the request
            # (RFC 9112's retry of idempotent methods): smsbox may have queued the first, and
            # a second `sendsms` is a second SMS. Off, as aiohttp's own test client does; the
            # failure is then UNKNOWN, settled from Kannel's records (reconciler.py).
            self._session._retry_connection = False
        return self._session

    async def send(self, sms: OutgoingSms) -> SendResult:
        params = {
            **self._auth,
            "from": self._sender,
            "to": sms.to,
            "text": sms.text,
            "charset": "UTF-8",
            "coding": "2" if sms.encoding == "ucs2" else "0",
            "dlr-mask": str(DLR_MASK),
            # Kannel substitutes %d with the receipt type
            "dlr-url": sms.receipt_url,
            # logged as [ACT:..] in bearerbox's access log (`lookup`); unlike `binfo` it is
            # not passed on to an SMPP operator
            "account": sms.message_id,
        }
        if self._smsc:
            params["smsc"] = self._smsc
        try:
            async with self._client().get(self._url, params=params) as resp:
                status = resp.status
                body = (await resp.text(errors="replace")).strip()[:200]
        except _NOT_SENT as exc:
            return SendResult(
                Outcome.RETRY, f"gateway unreachable: {type(exc).__name__}", gateway_away=True
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The request may have reached smsbox: we cannot know whether it was queued.
            return SendResult(Outcome.UNKNOWN, f"no answer from the gateway: {type(exc).__name__}")
        return _outcome(status, body)

    async def lookup(self, message_ids: Collection[str]) -> dict[str, GatewayRecord]:
        """Kannel's record of these messages, from bearerbox's access log (`access_log`, a
        path the service can read; empty: no record is looked up, every one stays unknown)."""
        if not self._access_log or not message_ids:
            return {}
        paths = rotated_and_current(self._access_log)
        return await asyncio.to_thread(find_in_access_log, paths, message_ids)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _outcome(status: int, body: str) -> SendResult:
    """What smsbox's answer to a `sendsms` means for the dispatcher. Any 2xx took the SMS
    ("0: Accepted for delivery", "3: Queued for later delivery", or "Sent." with
    `immediate-sendsms-reply`): sending it again would be a second SMS. A 403 "Not
    routable. Do not try again." is a number no SMSC of this gateway takes (it never will);
    a 403 of credentials, or a 5xx (queue full, a proxy's 502/504), can be fixed: retry
    under the attempt cap; a 503 (unavailable) as long as the message is valid
    (`gateway_away`, notifications/retries.py)."""
    if 200 <= status < 300:
        return SendResult(Outcome.ACCEPTED, body)
    if status in (400, 404, 413) or (status == 403 and body.startswith("Not routable")):
        return SendResult(Outcome.REJECTED, f"HTTP {status}: {body}")
    return SendResult(Outcome.RETRY, f"HTTP {status}: {body}", gateway_away=status in _UNAVAILABLE)
