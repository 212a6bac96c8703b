"""The survey page of an SMS link (`/s/{token}`, public: the token is the only credential);
the questionnaires operations edit are in questionnaires_api.py.

Why here: this service already owns everything an invitation needs (the patient's number,
opt-outs, the deceased flag, quiet hours, the daily cap) and is the one part of the platform
with routes the outside calls (the gateway's callbacks), so the tokens are made, kept (as
hashes) and checked where the SMS is sent, and no other service learns a phone number.

A link answers once: the answer marks the row answered in the same transaction that queues
`survey.answered` in the outbox, and only the first of any number of submissions finds the
row still open. CSRF: the form carries an HMAC of the link and of a nonce set as a
SameSite=Strict cookie with it (one nonce for every link and tab while the cookie lasts, as
long as a link answers). A form whose check fails (its cookie gone after a long pause, or
another site posting it) records nothing: it comes back with the patient's answers and a
fresh check, to be submitted again by the patient. A form refused for a while (too many
requests, the database away: 429, 503) keeps its answers too, in the refusal page's form whose
button sends them again (no database is read to show it).
Requests are limited per link and per client address, in this process's memory and across
every instance in PostgreSQL (survey_limits.py). Every refusal is a short page saying what
happened, and so is a failure (`SurveyRoute`); none shows a trace, and neither the token nor
anything of the form is logged.
"""

from __future__ import annotations

import re
import secrets
import traceback
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl

import asyncpg
import structlog
from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse

from hospital_shared.bounds import whole_number
from hospital_shared.http_guard import GuardedRoute, safe_reason
from hospital_shared.questionnaires import (
    AnswerRefused,
    ContactKind,
    Question,
    Questionnaire,
    Refusal,
    check_answers,
)
from notifications import survey_page, survey_store
from notifications.settings import Settings
from notifications.survey_answers import given_answers, publish_answered
from notifications.survey_limits import SharedLimits
from notifications.survey_links import RateLimiter, csrf_for, csrf_matches, is_token, token_hash

log = structlog.get_logger(__name__)

COOKIE = "survey_nonce"
# The cookie's nonce is kept while it lasts: one cookie serves every link and tab, and a new
# one at each load made every page opened before it refuse its form ("页面已失效").
_NONCE = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16)
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token is in the address: never pass it on
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}
DATABASE_AWAY = (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError)


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _html(status: int, body: str) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


def _kept_nonce(request: Request) -> str:
    """The cookie's nonce while it is one of ours, else a new one."""
    nonce = request.cookies.get(COOKIE, "")
    return nonce if _NONCE.fullmatch(nonce) else secrets.token_urlsafe(16)


class SurveyGate:
    """What the survey pages of one app share: the request limits (per link and per client
    address, in this process's memory and, with `shared`, across instances in PostgreSQL), the
    CSRF secret and the hospital's name. Made from the settings at the first request (`gate`),
    or set on `app.state.survey_gate` beforehand."""

    def __init__(self, settings: Settings, shared: SharedLimits | None = None) -> None:
        self.settings = settings
        self.shared = shared
        self.by_token = RateLimiter(settings.survey_rate_per_token, settings.survey_rate_window_s)
        self.by_address = RateLimiter(
            settings.survey_rate_per_address, settings.survey_rate_window_s
        )
        self.hospital = settings.hospital_name
        # The nonce's cookie lasts as long as a link answers (7 days by default): a patient on
        # a phone leaves the page for a call, a ward round or the night and comes back to the
        # same tab; 3600 s lost the answers of every form left open an hour. It is no
        # credential (the link's token is): a longer life lets no one else answer.
        self.cookie_s = int(settings.survey_link_validity_days * 86_400)

    def with_cookie(self, response: HTMLResponse, request: Request, nonce: str) -> HTMLResponse:
        response.set_cookie(
            COOKIE, nonce, max_age=self.cookie_s, path="/s/", httponly=True,
            samesite="strict", secure=request.url.scheme == "https",
        )  # fmt: skip
        return response

    def refused(
        self, reason: str, request: Request | None = None, posted: dict[str, str] | None = None
    ) -> HTMLResponse:
        """The refusal's page; a form refused for a while (too many requests, the service
        unavailable) keeps what was `posted` in a form the patient sends again."""
        kept = _keepable(posted or {}) if reason in _FOR_A_WHILE and request else None
        action = request.url.path if request else ""
        status, body = survey_page.refusal_page(reason, self.hospital, kept=kept, action=action)
        return _html(status, body)

    async def admit(self, request: Request, token: str) -> bytes:
        """The token's hash, once the caller is within its limits and the token well formed."""
        address = request.client.host if request.client else "-"
        if not self.by_address.allow(address):
            raise _Refused("too_many")
        well_formed = is_token(token)
        hashed = token_hash(token) if well_formed else b""
        if well_formed and not self.by_token.allow(hashed.hex()):
            raise _Refused("too_many")
        if self.shared is not None:
            await self._within_shared_limits(request, address, hashed)
        if not well_formed:
            raise _Refused("unknown")
        return hashed

    async def _within_shared_limits(self, request: Request, address: str, hashed: bytes) -> None:
        """Count the request on the counters every instance shares (the address, and the
        link when the token is well formed); refused past either limit."""
        assert self.shared is not None
        limits = {f"a:{address}": self.settings.survey_rate_per_address}
        if hashed:
            limits[f"t:{hashed.hex()}"] = self.settings.survey_rate_per_token
        async with request.app.state.runtime.pool.acquire() as conn:
            hits = await self.shared.hits(conn, list(limits))
        if any(hits[key] > limit for key, limit in limits.items()):
            raise _Refused("too_many")

    def form(
        self, request: Request, q: Questionnaire, hashed: bytes, nonce: str, **shown: Any
    ) -> str:
        csrf = csrf_for(self.settings.survey_secret, hashed, nonce)
        return survey_page.form_page(
            q, hospital=self.hospital, action=request.url.path, csrf=csrf, **shown
        )


def gate(request: Request) -> SurveyGate:
    found: SurveyGate | None = getattr(request.app.state, "survey_gate", None)
    if found is None:
        settings = request.app.state.runtime.settings
        shared = SharedLimits(settings.survey_rate_window_s)
        found = request.app.state.survey_gate = SurveyGate(settings, shared)
    return found


Gate = Annotated[SurveyGate, Depends(gate)]


class SurveyRoute(GuardedRoute):
    """A survey page's route: whatever happens, the answer is one of the survey's pages with
    its headers, never the service's problem+json (which named the token's path) on a
    patient's phone. A value the guard refuses (a NUL in the token) is the unknown link's
    page; a failure is the "unavailable" one, logged by route, type and frames, without the
    token or the form (the exception's message may hold either: `safe_reason`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answered(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError:
                return _refused(request, "unknown")
            except Exception as exc:
                log.error(
                    f"survey page failed: {request.method} {self.path}",
                    error=type(exc).__name__, reason=safe_reason(exc),
                    frames="".join(traceback.format_tb(exc.__traceback__)),
                )  # fmt: skip
                return _refused(request, "unavailable")

        return answered


def _refused(request: Request, reason: str) -> HTMLResponse:
    found = getattr(request.app.state, "survey_gate", None)  # None: the gate itself failed
    status, body = survey_page.refusal_page(reason, found.hospital if found else "")
    return _html(status, body)


# Pages for patients' phones, not API operations: kept out of the OpenAPI document (every
# answer, refusals included, is an HTML page, where the API answers problem+json)
survey_router = APIRouter(
    prefix="/s", tags=["patient survey"], route_class=SurveyRoute, include_in_schema=False
)


async def _open_link(conn: asyncpg.Connection, hashed: bytes) -> asyncpg.Record:
    link = await survey_store.find_link(conn, hashed)
    if link is None:
        raise _Refused("unknown")
    if link["deceased"]:
        # The patient died since the invitation: the survey is over, said as an expired
        # link's page says it (nothing a family could read as a question to the patient),
        # and nothing is recorded (survey_policy.py; DOMAIN.md).
        raise _Refused("expired")
    if link["answered_at"] is not None:
        raise _Refused("used")
    if link["expires_at"] <= datetime.now(UTC):
        raise _Refused("expired")
    return link


# HEAD as GET (a phone's link preview, a proxy): the same page without its body.
@survey_router.api_route("/{token}", methods=["GET", "HEAD"], response_class=HTMLResponse)
async def survey_form(request: Request, token: str, gate: Gate) -> HTMLResponse:
    try:
        hashed = await gate.admit(request, token)
        async with request.app.state.runtime.pool.acquire() as conn:
            link = await _open_link(conn, hashed)
            q = await survey_store.current_questionnaire(conn, ContactKind(link["contact_kind"]))
    except _Refused as exc:
        return gate.refused(exc.reason)
    except DATABASE_AWAY:
        return gate.refused("unavailable")
    nonce = _kept_nonce(request)
    return gate.with_cookie(_html(200, gate.form(request, q, hashed, nonce)), request, nonce)


@survey_router.post("/{token}", response_class=HTMLResponse)
async def survey_answer(request: Request, token: str, gate: Gate) -> HTMLResponse:
    posted: dict[str, str] = {}
    try:
        # The form is read first (bounded, no database), so that a refusal for a while keeps
        # the answers (a 429 or 503 lost them; the CSRF refusal keeps them too)
        fields = await _form_fields(request, gate.settings.survey_max_form_bytes)
        posted = dict(fields)
        hashed = await gate.admit(request, token)
        nonce = request.cookies.get(COOKIE, "")
        given = fields.pop("csrf", "")
        if not nonce or not csrf_matches(gate.settings.survey_secrets, hashed, nonce, given):
            return await _form_again(request, gate, hashed, fields)
        return await _answer(request, gate, hashed, fields, nonce)
    except _Refused as exc:
        return gate.refused(exc.reason, request, posted)
    except DATABASE_AWAY:
        return gate.refused("unavailable", request, posted)


_FOR_A_WHILE = frozenset({"too_many", "unavailable"})  # the same form may go again later
_FORM_NAME = re.compile(r"csrf|v|[qst]\.[A-Za-z0-9_-]{1,64}")


def _keepable(posted: dict[str, str]) -> dict[str, str]:
    """The fields of the survey's form among those posted (nothing else is echoed back)."""
    return {name: value for name, value in posted.items() if _FORM_NAME.fullmatch(name)}


# Every other address and method under /s (`/s`, `/s/`, `/s/<token>/x`, `/s//<token>`, a PUT
# of a link) is an unknown link to whoever typed or pasted it: the page that says so, not the
# API's problem+json (404 or 405). Registered after the link's routes, which come first.
_ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@survey_router.api_route("", methods=_ANY_METHOD, response_class=HTMLResponse)
@survey_router.api_route("/", methods=_ANY_METHOD, response_class=HTMLResponse)
@survey_router.api_route("/{rest:path}", methods=_ANY_METHOD, response_class=HTMLResponse)
async def no_such_link(gate: Gate) -> HTMLResponse:
    return gate.refused("unknown")


STALE_FORM = "页面已失效：您填写的内容已为您保留，请核对后再次点击“提交”"


async def _form_again(
    request: Request, gate: SurveyGate, hashed: bytes, fields: dict[str, str]
) -> HTMLResponse:
    """A form whose check failed records nothing: while its link is open, the form again
    with what the patient chose and a fresh check (the cookie's nonce, or a new one set), so
    the answers are submitted only by the patient's next press of 提交 (403: refused)."""
    async with request.app.state.runtime.pool.acquire() as conn:
        link = await _open_link(conn, hashed)
        q = await _questionnaire(conn, ContactKind(link["contact_kind"]), fields.pop("v", ""))
    try:
        given = given_answers(fields)
    except AnswerRefused:
        given = {}
    nonce = _kept_nonce(request)
    shown = gate.form(request, q, hashed, nonce, given=given, error=STALE_FORM)
    return gate.with_cookie(_html(403, shown), request, nonce)


async def _questionnaire(
    conn: asyncpg.Connection, kind: ContactKind, version: str
) -> Questionnaire:
    """The version the form was made from, or the one in force."""
    return await survey_store.questionnaire_version(
        conn, kind, whole_number(version, 5) or 0
    ) or await survey_store.current_questionnaire(conn, kind)


async def _answer(
    request: Request, gate: SurveyGate, hashed: bytes, fields: dict[str, str], nonce: str
) -> HTMLResponse:
    now = datetime.now(UTC)
    async with request.app.state.runtime.pool.acquire() as conn, conn.transaction():
        link = await _open_link(conn, hashed)
        q = await _questionnaire(conn, ContactKind(link["contact_kind"]), fields.pop("v", ""))
        given: dict[str, dict[str, str]] = {}
        try:
            given = given_answers(fields)
            answers = check_answers(q, given)  # type: ignore[arg-type]
        except AnswerRefused as exc:
            error, wrong = _explain(q, exc)
            shown = gate.form(request, q, hashed, nonce, given=given, error=error, wrong=wrong)
            return _html(422, shown)
        claimed = await survey_store.claim_answer(conn, hashed, version=q.version, now=now)
        if claimed is None:
            raise _Refused("used")
        await publish_answered(conn, claimed, q, answers, now=now)
        await survey_store.withdraw_reminder(conn, claimed, now)
    return _html(200, survey_page.thanks_page(gate.hospital))


def _explain(q: Questionnaire, exc: AnswerRefused) -> tuple[str, tuple[str, str] | None]:
    """The summary at the top of the form, and the question to mark with what is wrong."""
    question: Question | None = q.question(exc.field)
    what = _CHINESE[exc.refusal]
    if question is None:
        return f"提交的内容：{what}", None
    return f"“{question.text}”：{what}", (question.id, what)


# What the patient reads for each refusal (every Refusal has its wording: a unit test).
_CHINESE = {
    Refusal.UNKNOWN_QUESTION: "问卷中没有这个问题，请重新打开链接",
    Refusal.REQUIRED: "请选择一项",
    Refusal.NOT_ON_SCALE: "请选择满意、基本满意或不满意",
    Refusal.NO_SCORE: "这个问题不需要评分",
    Refusal.SCORE_RANGE: "评分应为1到5分",
    Refusal.SCORE_WITHOUT_CHOICE: "评分前请先选择满意程度",
    Refusal.TOO_LONG: "最多500字",
    Refusal.TEXT_ONLY: "这个问题请填写文字",
    Refusal.CHOICE_ONLY: "这个问题请选择一项",
    Refusal.UNSTORABLE: "含有无法识别的字符，请删除后重新提交",
}


async def _form_fields(request: Request, limit: int) -> dict[str, str]:
    """The posted form as one value per name (a repeated name is refused), read up to `limit`
    bytes: a larger body is refused without being read whole."""
    declared = whole_number(request.headers.get("content-length", ""))
    if declared is not None and declared > limit:
        raise _Refused("too_large")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _Refused("too_large")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200,
                          strict_parsing=bool(body), errors="strict")  # fmt: skip
    except (UnicodeDecodeError, ValueError):
        raise _Refused("bad_form") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise _Refused("bad_form")
    return fields
