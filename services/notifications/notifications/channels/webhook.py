"""Group-robot webhooks in the WeCom (企业微信) and DingTalk (钉钉) JSON formats.

    WeCom    {"msgtype": "text", "text": {"content": ..., "mentioned_mobile_list": [...]}}
             {"msgtype": "markdown", "markdown": {"content": ...}}
    DingTalk {"msgtype": "text", "text": {"content": ...}, "at": {"atMobiles": [...]}}
             {"msgtype": "markdown", "markdown": {"title": ..., "text": ...}, "at": {...}}

Both answer HTTP 200 with {"errcode": 0, "errmsg": "ok"} when they took the message.
DingTalk robots with 加签 need `timestamp` and `sign` (HMAC-SHA256 of "<ms>\\n<secret>").

The robot is away (`SendResult.gateway_away`: the note waits for it until it expires,
notifications/retries.py) when no connection could be made (refused, reset or timed out while
connecting, no free connection in time) or it answers 503 (unavailable). A 502 or 504 comes
from a proxy in front of it, which may have passed the post on: retried under the attempt cap,
as a 429, another 5xx and a rate-limit errcode (a robot that answers is not away)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import quote_plus

import httpx

from notifications.channels.base import RobotTarget, StaffNote
from notifications.providers.base import Outcome, SendResult

# errcodes meaning "too many messages right now": try again later
_RATE_LIMITED = {45009, 45033, 130101, 410100}


def payload(robot: RobotTarget, subject: str, text: str) -> dict[str, Any]:
    mobiles = list(robot.mention_mobiles)
    if robot.flavour == "wecom":
        if robot.msgtype == "markdown":
            return {"msgtype": "markdown", "markdown": {"content": f"**{subject}**\n{text}"}}
        body: dict[str, Any] = {"content": text}
        if mobiles:
            body["mentioned_mobile_list"] = mobiles
        return {"msgtype": "text", "text": body}
    if robot.flavour == "dingtalk":
        at = {"atMobiles": mobiles, "isAtAll": False}
        mentions = "".join(f" @{m}" for m in mobiles)  # DingTalk only notifies when named
        if robot.msgtype == "markdown":
            markdown = {"title": subject, "text": f"#### {subject}\n{text}{mentions}"}
            return {"msgtype": "markdown", "markdown": markdown, "at": at}
        return {"msgtype": "text", "text": {"content": text + mentions}, "at": at}
    raise ValueError(f"unknown robot flavour {robot.flavour!r}")


def signed_url(url: str, secret: str, now_ms: int) -> str:
    """DingTalk 加签: append timestamp and the url-encoded base64 HMAC-SHA256 signature."""
    digest = hmac.new(secret.encode(), f"{now_ms}\n{secret}".encode(), hashlib.sha256).digest()
    sign = quote_plus(base64.b64encode(digest).decode())
    return f"{url}{'&' if '?' in url else '?'}timestamp={now_ms}&sign={sign}"


class RobotWebhookSender:
    name = "webhook"

    def __init__(self, *, timeout_s: float = 5.0) -> None:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=min(3.0, timeout_s))
        )

    async def send(self, note: StaffNote) -> SendResult:
        robot = note.robot
        if robot is None:
            return SendResult(Outcome.REJECTED, "no webhook for the staff member or department")
        url = robot.url
        if robot.flavour == "dingtalk" and robot.secret:
            url = signed_url(url, robot.secret, int(time.time() * 1000))
        try:
            resp = await self._client.post(url, json=payload(robot, note.subject, note.text))
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            detail = f"webhook unreachable: {type(exc).__name__}"
            return SendResult(Outcome.RETRY, detail, gateway_away=True)
        except httpx.HTTPError as exc:
            return SendResult(Outcome.UNKNOWN, f"no answer from the webhook: {type(exc).__name__}")
        if resp.status_code == 429 or resp.status_code >= 500:
            away = resp.status_code == 503
            return SendResult(Outcome.RETRY, f"HTTP {resp.status_code}", gateway_away=away)
        if resp.status_code >= 400:
            return SendResult(Outcome.REJECTED, f"HTTP {resp.status_code}: {resp.text[:200]}")
        try:
            answer = resp.json()
            code = int(answer.get("errcode", 0))
        except (ValueError, AttributeError):
            return SendResult(Outcome.REJECTED, f"not a robot answer: {resp.text[:200]}")
        if code == 0:
            return SendResult(Outcome.ACCEPTED, "ok")
        detail = f"errcode {code}: {answer.get('errmsg', '')}"[:200]
        return SendResult(Outcome.RETRY if code in _RATE_LIMITED else Outcome.REJECTED, detail)

    async def aclose(self) -> None:
        await self._client.aclose()
