"""What Kannel calls: delivery receipts (`dlr-url`) and incoming SMS (MO), such as STOP/退订.

Kannel cannot send a bearer token, so these routes accept calls only from
`callback_allowed_ips`, and a receipt must carry the signature we put in its `dlr-url`.

smsbox retries a report that did not get 200/202 (`http-request-retry`, see
tools/devstack/devstack/kannel.py), so a report that cannot be recorded, because the
database is away, is answered 503, never 200: it comes again.
"""

from __future__ import annotations

import contextlib
import hmac
import re
import types
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
import structlog
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from hospital_shared import problems
from hospital_shared.http_guard import GuardedRoute, SafeErrors
from notifications import domain, optouts
from notifications.dispatcher import receipt_signature
from notifications.receipts import DATABASE_AWAY, MISSING, RETRY_LATER, Receipt, ReceiptWriter

log = structlog.get_logger(__name__)

router = APIRouter(tags=["gateway callbacks"], route_class=GuardedRoute)


RECEIPT_PATH = "/v1/sms/dlr"  # the dlr-url's path (dispatcher.py)
CALLERS_ONLY = "callbacks are accepted from the SMS gateway only"


def _check_caller(request: Request) -> Any:
    return _gateway_settings(request.app.state, request.client.host if request.client else "")


def _gateway_settings(state: Any, host: str) -> Any:
    """The service's settings, once the caller at `host` is the gateway; 403 otherwise."""
    settings = state.runtime.settings
    if not domain.caller_allowed(host, settings.callback_allowed_ips):
        raise HTTPException(403, CALLERS_ONLY)
    return settings


async def _params(request: Request) -> dict[str, bytes]:
    """Query and form parameters as raw bytes: Kannel's %a is the message's own bytes
    (UTF-16BE for a UCS-2 message), which a UTF-8 decoder would garble."""
    raw = request.scope.get("query_string", b"")
    if request.method == "POST":
        raw += b"&" + await request.body()
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
    return {k: v.encode("latin-1") for k, v in pairs}


@contextlib.asynccontextmanager
async def recording(request: Request, what: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection in a transaction to record a report in; 503 when the database is away,
    so that Kannel keeps the report and sends it again."""
    pool = request.app.state.runtime.pool
    try:
        async with pool.acquire() as conn, conn.transaction():
            yield conn
    except DATABASE_AWAY as exc:
        raise _not_recorded(what, exc) from None


def _not_recorded(what: str, exc: BaseException) -> HTTPException:
    log.warning("gateway report not recorded, Kannel will retry", report=what,
                error=type(exc).__name__)  # fmt: skip
    why = "busy" if isinstance(exc, asyncpg.LockNotAvailableError) else "unavailable"
    return HTTPException(503, f"{what} not recorded (database {why}); retry")


def storable(text: str) -> str:
    """`text` with each NUL as U+FFFD, as a byte that does not decode is: PostgreSQL stores
    no NUL, and the receipt or reply would fail at every retry (GuardedRoute checks a route's
    validated parameters; these are read raw)."""
    return text.replace("\x00", "\ufffd")


def decode_text(raw: bytes, coding: str, charset: str) -> str:
    if coding == "2" or charset.upper() in ("UTF-16BE", "UCS-2", "UTF-16"):
        return raw.decode("utf-16-be", errors="replace")
    for candidate in (charset or "UTF-8", "UTF-8"):
        try:
            return raw.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return raw.decode("latin-1")


# Kannel's answers are plain text; each method its own operation (one route with both
# methods gave the two the same operation id). `/v1/dlr`, a second spelling of this route,
# is gone: no `dlr-url` the dispatcher ever wrote, no Kannel configuration and no test named it.
_PLAIN: dict[str, Any] = {
    "response_class": PlainTextResponse,
    "responses": {200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
}


@router.get(RECEIPT_PATH, **_PLAIN)
@router.post(RECEIPT_PATH, **_PLAIN)
async def delivery_receipt(request: Request) -> str:
    """A delivery receipt: `ok`, `unchanged` (already final) or `ignored` (an interim type)."""
    host = request.client.host if request.client else ""
    return await receipt_answer(request.app.state, host, lambda: _params(request))


async def receipt_answer(
    state: Any, host: str, read_params: Callable[[], Awaitable[dict[str, bytes]]]
) -> str:
    """A receipt's answer from its caller and parameters (the route's and `ReceiptLane`'s
    one logic): raises HTTPException for any answer but 200. The parameters are read once
    the caller is known to be the gateway (a query or body of any size is parsed then only)."""
    settings = _gateway_settings(state, host)
    params = {k: storable(v.decode("utf-8", "replace")) for k, v in (await read_params()).items()}
    message_id = params.get("id", "")
    # as bytes: compare_digest refuses a str with non-ASCII characters (a TypeError, a 500
    # that smsbox would retry for ten minutes). Signed with the secret or an earlier one: a
    # message sent before a rotation still gets its receipt.
    sig = params.get("sig", "").encode()
    if not any(
        hmac.compare_digest(receipt_signature(secret, message_id).encode(), sig)
        for secret in settings.callback_secrets
    ):
        raise HTTPException(403, "bad receipt signature")
    try:
        dlr_type = int(params.get("status", ""))
        mid = uuid.UUID(message_id)
    except ValueError:
        raise HTTPException(400, "status must be a Kannel DLR type and id a message id") from None
    receipt = domain.receipt_status(dlr_type)
    if receipt is None:
        return "ignored"
    detail = receipt_detail(dlr_type, params.get("reply", ""))
    writer: ReceiptWriter | None = getattr(state, "receipts", None)
    if writer is None:  # not started yet: Kannel sends it again
        raise HTTPException(503, "delivery receipt not recorded (service starting); retry")
    try:
        outcome = await writer.record(Receipt(mid, receipt, detail, datetime.now(UTC)))
    except RETRY_LATER as exc:
        raise _not_recorded("delivery receipt", exc) from None
    if outcome == MISSING:
        raise HTTPException(404, "no such message")
    return outcome


# An SMPP operator's receipt quotes the first 20 characters of the SMS (`... stat:UNDELIV
# err:001 text:【医院】您的投诉已受理`), which Kannel passes on as the reply (%A): the SMS's
# words never go into a status reason, an event or a screen, only what came before them.
_QUOTED_TEXT = re.compile(r"\btext:", re.IGNORECASE)


def receipt_detail(dlr_type: int, reply: str) -> str:
    """ "DLR <type>: <the gateway's words>", without the SMS's own words: the reply up to an
    SMPP receipt's `text:`, its printable ASCII only (an operator's error words, never a
    patient's name or a complaint's acknowledgement; a NUL read as U+FFFD stays one), at most
    200 characters."""
    said = _QUOTED_TEXT.split(reply, maxsplit=1)[0]
    said = "".join(c for c in said if " " <= c <= "~" or c == "\ufffd")
    return f"DLR {dlr_type}: {said.strip()}".strip()[:200]


def install_receipt_lane(app: FastAPI) -> None:
    """`ReceiptLane` outside every layer of the app, FastAPI's own included (body limits,
    telemetry, the error middleware), as `problems.install` puts `PlainErrors`."""
    build = app.build_middleware_stack

    def build_with_lane() -> ASGIApp:
        return ReceiptLane(build(), app.state)

    app.build_middleware_stack = build_with_lane  # type: ignore[method-assign]


class ReceiptLane:
    """Kannel's delivery receipts by GET (every `dlr-url` the dispatcher writes), answered
    before FastAPI's routing and middleware: at 1,000 events/s they are most of the service's
    requests, and the full stack spent ~190 us of CPU on each beside ~35 us of its own
    (docs/bench.md, session 23). The answers are the route's (`receipt_answer`, errors as
    problems); an unexpected failure is logged and answered 500 as `SafeErrors` does. Any
    other request, a receipt by POST included, goes on to the app."""

    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self.state = state  # the FastAPI app's: the runtime, and the receipt writer once started
        self._guarded = SafeErrors(self._answer)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == RECEIPT_PATH and scope["method"] == "GET":
            scope["route"] = _RECEIPT_ROUTE  # named in SafeErrors' log line
            await self._guarded(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")

        async def query() -> dict[str, bytes]:
            raw = scope.get("query_string", b"").decode("latin-1")
            pairs = parse_qsl(raw, keep_blank_values=True, encoding="latin-1")
            return {k: v.encode("latin-1") for k, v in pairs}

        try:
            text = await receipt_answer(self.state, client[0] if client else "", query)
        except HTTPException as exc:
            await problems.from_http_exception(exc, RECEIPT_PATH)(scope, receive, send)
            return
        body = text.encode()
        headers = [(b"content-length", str(len(body)).encode()), _PLAIN_TEXT]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


_PLAIN_TEXT = (b"content-type", b"text/plain; charset=utf-8")
_RECEIPT_ROUTE = types.SimpleNamespace(path=RECEIPT_PATH)


@router.get("/v1/sms/inbound", **_PLAIN)
@router.post("/v1/sms/inbound", **_PLAIN)
async def inbound_sms(request: Request) -> str:
    """An SMS from a patient. STOP/退订 opts the number out; START/订阅 lifts a reply opt-out.

    The answer body is empty: Kannel would send a non-empty one back as a reply SMS."""
    settings = _check_caller(request)
    params = await _params(request)
    sender = params.get("from", b"").decode("utf-8", "replace")
    coding = params.get("coding", b"").decode("ascii", "replace")
    charset = params.get("charset", b"").decode("ascii", "replace")
    text = storable(decode_text(params.get("text", b""), coding, charset))
    try:
        phone = domain.normalise_phone(sender, settings.phone_region)
    except domain.InvalidPhone:
        log.warning("incoming SMS from an unusable number ignored")
        return ""
    action = optouts.classify_reply(text, settings.opt_out_keywords, settings.opt_in_keywords)
    async with recording(request, "incoming SMS") as conn:
        await optouts.record_reply(conn, phone=phone, text=text, action=action)
    log.info("incoming SMS", action=action)
    return ""
