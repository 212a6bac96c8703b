"""Kannel's HTTP `sendsms` interface (smsbox), with delivery receipts to our `dlr-url`, and
bearerbox's access log as Kannel's record of what it sent (`kannel_log`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Collection

import httpx

from notifications.providers.base import GatewayRecord, Outcome, OutgoingSms, SendResult
from notifications.providers.kannel_log import find_in_access_log, rotated_and_current

# dlr-mask 19: the outcomes only, delivered (1), undelivered (2), rejected (16). Not "queued
# on SMSC" (4) nor "SMSC ack" (8): both mean `submitted`, which the dispatcher records when
# Kannel accepts the SMS, and the ack cost Kannel a second callback per SMS: 35% of its CPU
# per SMS (0.75 -> 0.49 ms, bench/smsc.py, docs/bench.md session 14).
DLR_MASK = 19


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
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`transport`: httpx's, for every client (tests answer with `httpx.MockTransport`);
        None: the network."""
        self._url = url
        self._auth = {"username": username, "password": password}
        self._sender = sender
        self._smsc = smsc
        self._access_log = access_log
        self._clients = _ClientsPerSend(
            timeout=httpx.Timeout(timeout_s, connect=min(5, timeout_s)),
            connections=connections,
            transport=transport,
        )

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
            async with self._clients.one() as client:
                resp = await client.get(self._url, params=params)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return SendResult(Outcome.RETRY, f"gateway unreachable: {type(exc).__name__}")
        except httpx.HTTPError as exc:
            # The request may have reached smsbox: we cannot know whether it was queued.
            return SendResult(Outcome.UNKNOWN, f"no answer from the gateway: {type(exc).__name__}")
        body = resp.text.strip()[:200]
        if resp.status_code in (200, 202) and body[:2] in ("0:", "3:"):
            return SendResult(Outcome.ACCEPTED, body)
        if resp.status_code in (400, 404, 413):
            return SendResult(Outcome.REJECTED, f"HTTP {resp.status_code}: {body}")
        # 401/403 (credentials), 5xx (queue full, bearerbox away): fixable, so retry
        return SendResult(Outcome.RETRY, f"HTTP {resp.status_code}: {body}")

    async def lookup(self, message_ids: Collection[str]) -> dict[str, GatewayRecord]:
        """Kannel's record of these messages, from bearerbox's access log (`access_log`, a
        path the service can read; empty: no record is looked up, every one stays unknown)."""
        if not self._access_log or not message_ids:
            return {}
        paths = rotated_and_current(self._access_log)
        return await asyncio.to_thread(find_in_access_log, paths, message_ids)

    async def aclose(self) -> None:
        await self._clients.aclose()


class _ClientsPerSend:
    """One small httpx client per send under way, each with one kept-alive connection, taken
    from a free list and put back: httpx's pool does work per request that grows with the
    requests in flight, so one shared client cost 1.9-2.7 ms of CPU per `sendsms` at the
    dispatcher's 40 slots against 0.64-0.66 ms with a client per slot (bench/sendsms_client.py,
    docs/bench.md session 15).

    Clients are made as the sends under way need them, up to `connections` (the dispatcher's
    slots), and share one SSL context (making one costs ~20 ms of CPU). Beyond that a send does
    not wait for a free client: it uses one overflow client, pooled as the single shared
    client was (up to max(100, connections) connections, `connections` kept alive), so more
    sends than slots behave as before (same pool timeout, RETRY when it runs out) instead of
    queueing here without a bound on the wait."""

    def __init__(
        self,
        *,
        timeout: httpx.Timeout,
        connections: int,
        transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        self._timeout = timeout
        self._transport = transport
        self._size = connections
        self._ssl = httpx.create_ssl_context()
        self._made: list[httpx.AsyncClient] = []
        self._free: list[httpx.AsyncClient] = []
        self._overflow = self._client(
            httpx.Limits(
                max_connections=max(100, connections), max_keepalive_connections=connections
            )
        )

    def _client(self, limits: httpx.Limits) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=self._timeout, limits=limits, verify=self._ssl, transport=self._transport
        )

    def _take(self) -> httpx.AsyncClient:
        if self._free:
            # the most recently used first: its connection is the likeliest to be alive
            return self._free.pop()
        if len(self._made) < self._size:
            client = self._client(httpx.Limits(max_connections=1, max_keepalive_connections=1))
            self._made.append(client)
            return client
        return self._overflow

    @contextlib.asynccontextmanager
    async def one(self) -> AsyncIterator[httpx.AsyncClient]:
        client = self._take()
        try:
            yield client
        finally:
            if client is not self._overflow:
                self._free.append(client)

    async def aclose(self) -> None:
        for client in (*self._made, self._overflow):
            await client.aclose()
        self._made.clear()
        self._free.clear()
