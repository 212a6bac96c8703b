"""The console as an OpenID Connect client of the hospital's identity provider (Keycloak's
`hospital` realm on the native stack, or any OIDC provider): the authorization-code flow with
PKCE (S256), state and nonce; the code and refresh-token exchanges; the ID token's checks; and
the RP-initiated logout address.

The provider is found through its discovery document (`CONSOLE_OIDC_DISCOVERY_URL`, default
`<OIDC_ISSUER_URL>/.well-known/openid-configuration`). The browser goes to its
`authorization_endpoint` and `end_session_endpoint`; the console itself talks to its
`token_endpoint` with the client secret (client_secret_basic). The access token it receives is
the one every service checks (hospital_shared.jwt_auth), so the console reads the person from
it with the same code; the ID token is checked for the console (its audience, nonce).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import structlog
from pydantic import BaseModel, Field

from hospital_shared.jwt_auth import InvalidToken, OidcConfig, ProviderUnavailable, TokenVerifier

log = structlog.get_logger(__name__)


class SignInSettings(BaseModel):
    """`CONSOLE_OIDC_*`: the console's client at the identity provider (a part of the
    console's settings). The issuer, audience and claim names are the services' (`OIDC_*`,
    hospital_shared.settings)."""

    oidc_client_id: str = Field("console", description="the console's client id at the provider")
    oidc_client_secret: str | None = Field(
        None,
        description="the client's secret (confidential client); no default, required in"
        " production (a start without it, or with the development realm's, is refused)",
    )
    oidc_discovery_url: str | None = Field(
        None,
        description="the discovery document, where the console (not the browser) reaches it;"
        " unset: <OIDC_ISSUER_URL>/.well-known/openid-configuration",
    )
    oidc_scopes: str = Field("openid profile email", description="scopes asked for at sign-in")
    oidc_redirect_base_url: str | None = Field(
        None,
        description="the console's address as the browser sees it (behind a proxy);"
        " unset: taken from the request",
    )
    oidc_refresh_margin_s: float = Field(
        60.0, ge=0, description="the access token is refreshed this long before it expires"
    )
    oidc_sign_in_timeout_s: float = Field(
        600.0, gt=0, description="how long a sign-in begun may take at the provider's page"
    )
    oidc_http_timeout_s: float = Field(10.0, gt=0, description="timeout of a call to the provider")


class NoClientSecret(RuntimeError):
    """Raised at start outside a development or test stack without a client secret."""


def refuse_public_client(settings: SignInSettings, *, is_development: bool) -> None:
    """Stop a production start without `CONSOLE_OIDC_CLIENT_SECRET`. The console is a
    confidential client (it sends its secret with every code and refresh-token exchange): a
    provider that hands it tokens without one has a public client, whose codes anyone who
    catches the redirect, and whose refresh tokens anyone holding them, can exchange."""
    if not is_development and not settings.oidc_client_secret:
        raise NoClientSecret(
            "CONSOLE_OIDC_CLIENT_SECRET is not set: the console signs people in as a"
            " confidential client of the identity provider; give it the client's secret"
        )


class SignInFailed(Exception):
    """The provider said no, or what came back does not check out: the person sees why."""


@dataclass(frozen=True)
class Pkce:
    """One sign-in's secrets: `state` goes through the browser and comes back; the verifier
    and the nonce stay on the server (the challenge and the nonce go to the provider)."""

    state: str
    nonce: str
    verifier: str

    @classmethod
    def new(cls) -> Pkce:
        return cls(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64))

    @property
    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


OFFLINE_SCOPE = "offline_access"


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str | None
    id_token: str | None
    expires_in: float
    scope: str = ""  # the scopes granted, as the token response says

    @property
    def offline(self) -> bool:
        """An offline grant: its refresh token outlives single sign-on (Keycloak: no idle or
        maximum time of the SSO session ends it). Someone can ask for one by adding
        `offline_access` to the scope of the login address; the console takes none. Known by
        the granted scope, or by the refresh token's `typ` (Keycloak's is a JWT: `Offline`
        or `Refresh`; another provider's may be opaque, then only the scope tells)."""
        if OFFLINE_SCOPE in self.scope.split():
            return True
        return _unverified_claims(self.refresh_token).get("typ") == "Offline"


def _unverified_claims(token: str | None) -> dict[str, Any]:
    """A JWT's claims without checking its signature (only for what the provider sent the
    console itself over TLS, never to trust a person's claims); {} for what is not a JWT."""
    if not token:
        return {}
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims


def session_id_at_provider(id_token: str | None) -> str | None:
    """The provider's session id (`sid`) an ID token names, for the sign-in and sign-out log
    lines: it ties them to the provider's own events."""
    sid = _unverified_claims(id_token).get("sid")
    return str(sid) if sid else None


class OidcClient:
    """The provider's endpoints (discovered once) and the console's calls to it."""

    def __init__(
        self,
        settings: SignInSettings,
        services: OidcConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self._transport = transport  # None: the network (tests answer for the provider)
        self.access = TokenVerifier(services)
        # The ID token is for the console: its audience is the client id.
        self.identity = TokenVerifier(
            OidcConfig(
                issuer=services.issuer,
                audience=settings.oidc_client_id,
                jwks_url=services.jwks_url,
                algorithms=services.algorithms,
                leeway_s=services.leeway_s,
            )
        )
        self._metadata: dict[str, Any] | None = None

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            url = self.settings.oidc_discovery_url or (
                f"{self.access.config.issuer.rstrip('/')}/.well-known/openid-configuration"
            )
            self._metadata = await self._get(url)
        return self._metadata

    async def authorization_url(self, pkce: Pkce, redirect_uri: str) -> str:
        query = {
            "response_type": "code",
            "client_id": self.settings.oidc_client_id,
            "redirect_uri": redirect_uri,
            "scope": self.settings.oidc_scopes,
            "state": pkce.state,
            "nonce": pkce.nonce,
            "code_challenge": pkce.challenge,
            "code_challenge_method": "S256",
        }
        return f"{(await self.metadata())['authorization_endpoint']}?{urlencode(query)}"

    async def exchange_code(self, code: str, verifier: str, redirect_uri: str) -> Tokens:
        return await self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            }
        )

    async def refresh(self, refresh_token: str) -> Tokens:
        return await self._token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )

    async def revoke(self, refresh_token: str | None) -> None:
        """Revoke a refresh token at the provider (RFC 7009), which ends its session there;
        best effort: a provider without the endpoint, or away, is let be."""
        endpoint = (await self.metadata()).get("revocation_endpoint")
        if not endpoint or not refresh_token:
            return
        form = {"token": refresh_token, "token_type_hint": "refresh_token"}
        auth = (self.settings.oidc_client_id, self.settings.oidc_client_secret or "")
        with contextlib.suppress(ProviderUnavailable):
            await self._send("POST", endpoint, data=form, auth=auth)

    async def end_session(self, refresh_token: str | None) -> None:
        """End the person's single sign-on session at the provider from the server (Keycloak's
        end_session_endpoint takes the client's refresh token by POST), before the browser is
        sent there too: a browser that never gets there (the network, a closed tab, a page
        left open on a shared ward PC) must not leave the next person signed in as them.
        Best effort: a provider away, or one without the endpoint, is let be (the browser's
        RP-initiated logout still follows)."""
        endpoint = (await self.metadata()).get("end_session_endpoint")
        if not endpoint or not refresh_token:
            return
        form = {"client_id": self.settings.oidc_client_id, "refresh_token": refresh_token}
        auth = (self.settings.oidc_client_id, self.settings.oidc_client_secret or "")
        with contextlib.suppress(ProviderUnavailable):
            resp = await self._send("POST", endpoint, data=form, auth=auth)
            if resp.status_code >= 400:
                log.warning("the provider did not end the session", status=resp.status_code)

    async def check_id_token(self, id_token: str | None, nonce: str) -> dict[str, Any]:
        """The ID token's claims once signature, issuer, audience, expiry and nonce hold."""
        if not id_token:
            raise SignInFailed("the provider sent no ID token")
        try:
            claims = await self.identity.claims(id_token)
        except InvalidToken as exc:
            raise SignInFailed(f"ID token refused: {exc}") from exc
        if not secrets.compare_digest(str(claims.get("nonce", "")).encode(), nonce.encode()):
            raise SignInFailed("ID token refused: its nonce is not this sign-in's")
        return claims

    async def end_session_url(self, id_token: str | None, post_logout_redirect: str) -> str | None:
        """Where the browser ends its session at the provider (RP-initiated logout), or None
        when the provider has no end_session_endpoint."""
        endpoint = (await self.metadata()).get("end_session_endpoint")
        if not endpoint:
            return None
        query = {"client_id": self.settings.oidc_client_id,
                 "post_logout_redirect_uri": post_logout_redirect}  # fmt: skip
        if id_token:
            query["id_token_hint"] = id_token
        return f"{endpoint}?{urlencode(query)}"

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=self.settings.oidc_http_timeout_s, transport=self._transport
        )

    async def _token_request(self, form: dict[str, str]) -> Tokens:
        """The token endpoint's tokens. The provider away, failing (5xx) or answering what is
        not JSON: `ProviderUnavailable` (try again shortly: a refresh token may still be good).
        A refusal (4xx: `invalid_grant`, a code used twice) or an answer without an access
        token: `SignInFailed` (sign in again)."""
        secret = self.settings.oidc_client_secret or ""
        resp = await self._send(
            "POST",
            (await self.metadata())["token_endpoint"],
            data=form,
            auth=(self.settings.oidc_client_id, secret),
        )
        if resp.status_code != 200:
            raise SignInFailed(_provider_error(resp))
        body = _json(resp)
        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise SignInFailed("the provider's answer holds no access token")
        return Tokens(
            access_token=access_token,
            refresh_token=body.get("refresh_token"),
            id_token=body.get("id_token"),
            expires_in=float(body.get("expires_in", 300)),
            scope=str(body.get("scope") or ""),
        )

    async def _get(self, url: str) -> dict[str, Any]:
        resp = await self._send("GET", url)
        if resp.status_code != 200:
            raise ProviderUnavailable(f"the identity provider answered {resp.status_code}")
        return _json(resp)

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """The provider's answer; `ProviderUnavailable` when it gives none, or a 5xx."""
        try:
            async with self._http() as client:
                resp = await client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"the identity provider did not answer ({type(exc).__name__})"
            ) from exc
        if resp.status_code >= 500:
            raise ProviderUnavailable(f"the identity provider answered {resp.status_code}")
        return resp


def _json(resp: httpx.Response) -> dict[str, Any]:
    """A provider's JSON object; a proxy's error page in its place is the provider away."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ProviderUnavailable("the identity provider's answer is not a JSON object")
    return body


def _provider_error(resp: httpx.Response) -> str:
    """The provider's OAuth error code and description (never the request's secrets)."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return f"the provider answered {resp.status_code}"
    return f"{body.get('error', resp.status_code)}: {body.get('error_description', '')}".strip()
