"""Kannel's HTTP `sendsms` interface (smsbox), with delivery receipts to our `dlr-url`."""

from __future__ import annotations

import httpx

from notifications.providers.base import Outcome, OutgoingSms, SendResult

# dlr-mask 31: delivered (1), undelivered (2), queued on SMSC (4), SMSC ack (8), rejected (16)
DLR_MASK = 31


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
    ) -> None:
        self._url = url
        self._auth = {"username": username, "password": password}
        self._sender = sender
        self._smsc = smsc
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=min(5, timeout_s))
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
        }
        if self._smsc:
            params["smsc"] = self._smsc
        try:
            resp = await self._client.get(self._url, params=params)
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

    async def aclose(self) -> None:
        await self._client.aclose()
