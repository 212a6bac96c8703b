"""Signing in and out: `/login` sends the browser to the identity provider's login page
(authorization code + PKCE, console/oidc.py), `/auth/callback` turns the code into tokens and
a server-side session (console/session.py), `POST /logout` ends the session here and at the
provider (RP-initiated logout). `refresh_session` renews the access token before it expires
(require_session calls it through `app.state.refresh_session`).

Each sign-in is bound to the browser that began it: its `state` is also in a short-lived
HttpOnly cookie the callback compares, so a code from someone else's sign-in (login CSRF)
gets no session here. One cookie per sign-in (named by its state's hash), so sign-ins begun in
two tabs both complete (one cookie for all: the second `/login` overwrote the first's); a
browser keeps the newest `MAX_SIGN_INS_PER_BROWSER`. That check comes first, also for an
error the provider sends back: a link to the callback with an `error` of its own (and a
"description" of the link-maker's choosing) shows only "sign-in not begun here". A provider's
error is shown as the console's own sentence for its OAuth code; its `error_description` goes
to the log, never to the page.

An offline grant (`offline_access` added to the login address's scope) is refused and revoked:
its refresh token would keep a session alive past single sign-on's idle and maximum times.

Signing in and out is logged (staff id, role, department, the provider's session id `sid`;
never a token), beside the provider's own events.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.backend import Unavailable
from console.oidc import OidcClient, Pkce, SignInFailed, Tokens, session_id_at_provider
from console.pages import error_page, local_path
from console.refusals import Reason, detail_reason
from console.session import (
    CheckedForm,
    CurrentSession,
    Session,
    SessionStore,
    set_session_cookie,
)
from console.throttle import sign_in_throttle
from console.wording import translate
from hospital_shared.auth import Principal
from hospital_shared.http_guard import GuardedRoute, bounded
from hospital_shared.jwt_auth import InvalidToken, NoPlatformRole, OidcConfig, ProviderUnavailable

log = structlog.get_logger(__name__)
router = APIRouter(route_class=GuardedRoute, include_in_schema=False)
CALLBACK_PATH = "/auth/callback"
SIGN_IN_COOKIE = "console_signin_"  # + the first 16 hex digits of the state's SHA-256
# Sign-ins under way in one browser (tabs signing in at once, as after a browser restart
# restores them): a further /login drops the oldest cookie. Each is ~80 bytes of every request's
# Cookie header until its callback or the sign-in timeout.
MAX_SIGN_INS_PER_BROWSER = 8
IDENTITY_PROVIDER = "identity-provider"  # as the "unavailable" page names it
# A return address longer than this is not kept (the start page instead): every anonymous
# GET /login stores one, and a 12 KB one was stored as it came.
MAX_NEXT_PATH = 2048
# The OAuth 2.0 and OpenID Connect error codes a provider sends back to the callback, each
# with a sentence of the catalogue (`signin.error.<code>`); any other code gets `other`.
PROVIDER_ERRORS = frozenset({
    "access_denied", "invalid_request", "unauthorized_client", "unsupported_response_type",
    "invalid_scope", "server_error", "temporarily_unavailable", "login_required",
    "interaction_required", "consent_required", "account_selection_required",
})  # fmt: skip


class ProviderRefused(SignInFailed):
    """The provider sent the browser back with an OAuth `error` instead of a code."""

    def __init__(self, code: str) -> None:
        self.code = code if code in PROVIDER_ERRORS else "other"
        key = f"signin.error.{self.code}"
        super().__init__(translate(key, "en"))
        self.reason = Reason(translate(key, "en"), translate(key, "zh"))


def signin_client(request: Request) -> OidcClient:
    """The app's OIDC client, made on first use from the settings."""
    client: OidcClient | None = getattr(request.app.state, "oidc", None)
    if client is None:
        services = OidcConfig.from_settings(request.app.state.settings)
        if services is None:
            raise SignInFailed("no identity provider is configured (OIDC_ISSUER_URL)")
        client = request.app.state.oidc = OidcClient(request.app.state.settings, services)
    return client


def _base_url(request: Request, client: OidcClient) -> str:
    return (client.settings.oidc_redirect_base_url or str(request.base_url)).rstrip("/")


def _state_hash(state: str) -> bytes:
    return hashlib.sha256(state.encode()).digest()


def _sign_in_cookie(state: str) -> str:
    return SIGN_IN_COOKIE + _state_hash(state).hex()[:16]


def _remember_sign_in(request: Request, resp: Response, state: str, max_age: float) -> None:
    """The sign-in's cookie, beside those of the sign-ins under way in other tabs; past
    `MAX_SIGN_INS_PER_BROWSER` the oldest go (a browser sends older cookies first: RFC 6265
    5.4). On every path, so that /login sees those it caps."""
    begun = [name for name in request.cookies if name.startswith(SIGN_IN_COOKIE)]
    for name in begun[: max(0, len(begun) - MAX_SIGN_INS_PER_BROWSER + 1)]:
        resp.delete_cookie(name, path="/")
    resp.set_cookie(
        _sign_in_cookie(state), state, max_age=int(max_age), path="/", httponly=True,
        samesite="lax", secure=request.app.state.settings.secure_cookie,
    )  # fmt: skip


THROTTLED = [Depends(sign_in_throttle)]  # per client address (console/throttle.py)


@router.get("/login", dependencies=THROTTLED)
async def login(request: Request, next: str = "/") -> Response:
    """Begin a sign-in: remember its secrets, send the browser to the provider. Sign-ins not
    finished within the timeout are purged here, so the table holds only those under way."""
    try:
        client = signin_client(request)
        pkce = Pkce.new()
        target = await client.authorization_url(pkce, _base_url(request, client) + CALLBACK_PATH)
    except Exception as exc:  # the provider away or not configured: say so, do not 500
        return _failed(request, exc, 503)
    timeout = timedelta(seconds=client.settings.oidc_sign_in_timeout_s)
    pool = request.app.state.pool
    await pool.execute("DELETE FROM sign_ins WHERE created_at < now() - $1::interval", timeout)
    await pool.execute(
        "INSERT INTO sign_ins (state_hash, code_verifier, nonce, next_path)"
        " VALUES ($1, $2, $3, $4)",
        _state_hash(pkce.state), pkce.verifier, pkce.nonce,
        local_path(next) if len(next) <= MAX_NEXT_PATH else "/",
    )  # fmt: skip
    resp = RedirectResponse(target, status_code=303)
    _remember_sign_in(request, resp, pkce.state, timeout.total_seconds())
    return resp


async def _take_sign_in(request: Request, state: str) -> dict[str, Any]:
    """The sign-in `state` names, once, if this browser began it and it has not timed out."""
    cookie = request.cookies.get(_sign_in_cookie(state), "")
    if not state or not secrets.compare_digest(cookie.encode(), state.encode()):
        raise SignInFailed("this sign-in was not begun in this browser; sign in again")
    client = signin_client(request)
    row = await request.app.state.pool.fetchrow(
        "DELETE FROM sign_ins WHERE state_hash = $1 AND created_at > now() - $2::interval"
        " RETURNING code_verifier, nonce, next_path",
        _state_hash(state),
        timedelta(seconds=client.settings.oidc_sign_in_timeout_s),
    )
    if row is None:
        raise SignInFailed("this sign-in has expired or was used already; sign in again")
    return dict(row)


@router.get(CALLBACK_PATH, dependencies=THROTTLED)
async def callback(
    request: Request, code: str = "", state: str = "", error: str = "", error_description: str = ""
) -> Response:
    """The provider sends the browser back here with a code: tokens, checks, a session."""
    try:
        pending = await _take_sign_in(request, state)  # before anything the address says
        if error:
            log.info("sign-in refused by the identity provider", error=bounded(error, 64),
                        description=bounded(error_description, 300))  # fmt: skip
            raise ProviderRefused(error)
        client = signin_client(request)
        tokens, at_provider, principal = await _signed_in(request, client, code, pending)
    except NoPlatformRole as exc:
        return _failed(request, exc, 403)
    except ProviderUnavailable as exc:  # away for a moment: signing in again will do
        return _failed(request, exc, 503)
    except (SignInFailed, InvalidToken) as exc:
        return _failed(request, exc, 400)
    session = await request.app.state.sessions.create(
        staff_id=principal.staff_id or principal.name or "",
        roles=[principal.role.value],
        department=principal.department,
        display_name=principal.name or principal.staff_id or "",
        **_token_fields(tokens, client.settings.oidc_refresh_margin_s),
        **at_provider,
    )
    log.info("signed in", **_who(session), sid=at_provider["provider_sid"])
    resp = RedirectResponse(pending["next_path"], status_code=303)
    settings = request.app.state.settings
    set_session_cookie(resp, session, name=settings.session_cookie, secure=settings.secure_cookie)
    resp.delete_cookie(_sign_in_cookie(state), path="/")
    return resp


async def _signed_in(
    request: Request, client: OidcClient, code: str, pending: dict[str, Any]
) -> tuple[Tokens, dict[str, str | None], Principal]:
    """The code's tokens, once the ID token checks out and the grant is not offline; the
    provider's session id and person (`sid`, `sub`: what a back-channel logout names); the
    person the access token names."""
    redirect_uri = _base_url(request, client) + CALLBACK_PATH
    tokens = await client.exchange_code(code, pending["code_verifier"], redirect_uri)
    claims = await client.check_id_token(tokens.id_token, pending["nonce"])
    if tokens.offline:
        await client.revoke(tokens.refresh_token)
        raise SignInFailed("an offline grant (offline_access) was asked for; sign in again")
    principal = await client.access.principal(tokens.access_token)
    at_provider = {
        f"provider_{claim}": str(claims[claim]) if claims.get(claim) else None
        for claim in ("sid", "sub")
    }
    return tokens, at_provider, principal


def _token_fields(tokens: Tokens, margin_s: float) -> dict[str, Any]:
    """The tokens as the session keeps them: the access token counts as expired `margin_s`
    before it does, so require_session refreshes it before a service could refuse it."""
    lifetime = max(0.0, tokens.expires_in - margin_s)
    return {
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "access_expires_at": datetime.now(UTC) + timedelta(seconds=lifetime),
        "id_token": tokens.id_token,
    }


def _failed(request: Request, exc: Exception, status_code: int) -> HTMLResponse:
    """The "sign-in did not complete" page, with the console's own reason (a provider's
    error code as the catalogue says it)."""
    log.info("sign-in not completed", status=status_code, reason=bounded(str(exc), 300))
    # the console's own sentences (refusals.json) in the page's language; others beside a
    # general sentence, as a service's refusal is shown
    reason = exc.reason if isinstance(exc, ProviderRefused) else detail_reason(400, str(exc))
    return error_page(request, "signin", status_code, reason=reason)


def _who(session: Session) -> dict[str, Any]:
    """A session's person as the sign-in and sign-out log lines name them."""
    role = session.roles[0] if session.roles else None
    return {"staff_id": session.staff_id, "role": role, "department": session.department}


async def refresh_session(request: Request, session: Session) -> Session | None:
    """The session with a fresh access token, or None (it is ended) when the provider will
    not renew it: the person signed out elsewhere, or was disabled, or the SSO session ran out.
    A provider away for a moment (no answer, a 5xx) is the "unavailable" page, and the session
    stays: its refresh token may still be good once the provider is back.

    One request at a time, across instances (`SessionStore.refreshing`): the pages of two tabs
    at an expired token both came here, and with a provider that rotates refresh tokens the
    second one's was refused and the session, renewed by the first, ended. The one that waited
    takes the tokens the first stored."""
    async with request.app.state.sessions.refreshing(session.id) as store:
        current: Session | None = await store.get(session.id)
        if current is None or not current.access_expired(datetime.now(UTC)):
            return current  # ended meanwhile, or renewed by the request before
        return await _renewed(request, store, current)


async def _renewed(request: Request, store: SessionStore, session: Session) -> Session | None:
    """`refresh_session`'s renewal, its lock held."""
    try:
        client = signin_client(request)
        if not session.refresh_token:
            raise SignInFailed("no refresh token")
        tokens = await client.refresh(session.refresh_token)
        if tokens.offline:
            await client.revoke(tokens.refresh_token)
            raise SignInFailed("the provider renewed the session with an offline grant")
        principal: Principal = await client.access.principal(tokens.access_token)
    except ProviderUnavailable as exc:
        raise Unavailable(IDENTITY_PROVIDER) from exc
    except (SignInFailed, InvalidToken, NoPlatformRole) as exc:
        # renewed meanwhile after all (by an instance that takes no lock: a rolling upgrade)
        again = await store.get(session.id)
        if again is not None and again.refresh_token != session.refresh_token:
            return again
        await store.delete(session.id)
        log.info("session ended: not renewed", **_who(session), reason=bounded(str(exc), 300))
        return None
    fields = _token_fields(tokens, client.settings.oidc_refresh_margin_s)
    # RFC 6749 section 6: an answer may leave out the refresh token; the one held stays good
    fields["refresh_token"] = fields["refresh_token"] or session.refresh_token
    # the refreshed token's role and department (a transfer, a new role), kept as sign-in keeps them
    roles, department = [principal.role.value], principal.department
    await store.update_tokens(session.id, roles=roles, department=department, **fields)
    if fields["id_token"] is None:
        fields["id_token"] = session.id_token
    return dataclasses.replace(session, **fields, roles=roles, department=department)


@router.post("/logout")
async def logout(request: Request, session: CurrentSession, form: CheckedForm) -> Response:
    """End the session here, then at the provider, which sends the browser back to the start
    page (and from there to its login form: no single sign-on is left to pass through)."""
    await request.app.state.sessions.delete(session.id)
    log.info("signed out", **_who(session), sid=session_id_at_provider(session.id_token))
    target = "/"
    try:
        client = signin_client(request)
        await client.end_session(session.refresh_token)
        home = _base_url(request, client) + "/"
        target = await client.end_session_url(session.id_token, home) or "/"
    except Exception:  # the provider away: the console's session is over all the same
        target = "/"
    resp = RedirectResponse(target, status_code=303)
    resp.delete_cookie(request.app.state.settings.session_cookie, path="/")
    return resp
