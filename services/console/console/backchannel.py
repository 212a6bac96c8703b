"""OpenID Connect Back-Channel Logout 1.0: the identity provider ends a person's session (an
administrator ended it or disabled them, they signed out of another application, the SSO
session timed out) and POSTs a signed `logout_token` here, server to server. The console
ends its sessions of that provider session at once, on every instance: without this a
session the provider had ended lived on here until its access token's next refresh (up to
5 minutes, Keycloak's `accessTokenLifespan`).

The token is checked as the specification says (section 2.6): signature with the realm's
keys (the JWKS cache the ID token uses), `iss`, `aud` = the console's client id, `iat`, `jti`,
an `events` claim holding the back-channel-logout event, no `nonce` (so an ID token is never
taken for one), and a `sid` or a `sub`. Then, in the console's database
(`SessionStore.end_at_provider`, `provider_logouts`, migration 190):
- with a `sid`: every console session signed in under that provider session is deleted, and
  the sid is recorded, so a sign-in whose callback was still under way is refused at its
  first request too;
- with only a `sub`: every console session of that person signed in before the token's `iat`
  (a replayed old token ends no later sign-in).
Records are kept `CONSOLE_SESSION_MAX_S`: no session they could match lives longer.

Answers (section 2.8): 200 when done (also when no session here matched), 400 with an OAuth
`error` and a description naming `logout_token` when the token does not check out (nothing is
ended), 503 when the realm's keys cannot be fetched.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from console.oidc import OidcClient
from console.signin import signin_client
from hospital_shared.http_guard import GuardedRoute, bounded
from hospital_shared.jwt_auth import InvalidToken, ProviderUnavailable

log = structlog.get_logger(__name__)
router = APIRouter(route_class=GuardedRoute, include_in_schema=False)
BACKCHANNEL_LOGOUT_PATH = "/auth/backchannel-logout"
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
# The claims a logout token must carry (section 2.4); `exp` is only recommended there.
REQUIRED_CLAIMS = ("iss", "aud", "iat", "jti")


class LogoutTokenRefused(Exception):
    """The logout token does not check out: 400, and nothing is ended."""


async def check_logout_token(client: OidcClient, token: str) -> dict[str, Any]:
    """The logout token's claims once it is the provider's, for the console, a logout event,
    and names a provider session (`sid`) or a person (`sub`)."""
    try:
        claims = await client.identity.claims(token, required=REQUIRED_CLAIMS)
    except InvalidToken as exc:
        raise LogoutTokenRefused(f"logout_token refused: {exc}") from exc
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(LOGOUT_EVENT), dict):
        raise LogoutTokenRefused("logout_token refused: its events claim has no logout event")
    if "nonce" in claims:
        raise LogoutTokenRefused("logout_token refused: it carries a nonce (an ID token?)")
    if not _text(claims.get("sid")) and not _text(claims.get("sub")):
        raise LogoutTokenRefused("logout_token refused: it names neither a sid nor a sub")
    return claims


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _refused(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


@router.post(BACKCHANNEL_LOGOUT_PATH)
async def backchannel_logout(request: Request) -> Response:
    """The provider ended a session: end the console's sessions of it (module docstring)."""
    form = await request.form()
    token = form.get("logout_token")
    if not isinstance(token, str) or not token:
        return _refused(400, "invalid_request", "logout_token: missing")
    try:
        claims = await check_logout_token(signin_client(request), token)
    except LogoutTokenRefused as exc:
        log.warning("back-channel logout refused", reason=bounded(str(exc), 300))
        return _refused(400, "invalid_request", str(exc))
    except ProviderUnavailable as exc:
        log.warning("back-channel logout not checked", reason=bounded(str(exc), 300))
        return _refused(503, "temporarily_unavailable", "the realm's keys could not be fetched")
    sid, sub = _text(claims.get("sid")), _text(claims.get("sub"))
    ended = await request.app.state.sessions.end_at_provider(
        sid=sid, sub=None if sid else sub, issued_at=float(claims["iat"])
    )
    if ended:
        log.info("session ended: back-channel logout", sid=sid, sub=sub, staff_ids=ended)
    else:  # a sign-out from the console itself, told back by the provider: ended already
        log.info("back-channel logout: no console session left", sid=sid, sub=sub)
    return Response(status_code=200)
