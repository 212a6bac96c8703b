"""People's (and hospital systems') access tokens from the hospital's identity provider:
JWTs issued by Keycloak, or any OpenID Connect provider, checked by every service.

A token counts when its signature verifies against a key of the provider's JWKS (fetched from
`OIDC_JWKS_URL`, or the `jwks_uri` of `<OIDC_ISSUER_URL>/.well-known/openid-configuration`),
with an allowed algorithm (`OIDC_ALGORITHMS`, RS256 by default: never `none`, never a shared
secret), and its `iss` is the issuer, its `aud` holds `OIDC_AUDIENCE`, `exp` has not passed
and `nbf` (when given) has come. The principal is read from its claims: the role from the
roles claim (Keycloak's realm roles by default), staff id, department and name from theirs.

The JWKS is cached for `OIDC_JWKS_MAX_AGE_S` and fetched again at once when a token names a
key id it does not hold (the provider rotated its keys), but at most every
`OIDC_JWKS_MIN_REFRESH_S`: a stream of tokens with made-up key ids costs one fetch per interval,
not one per request. Verification itself is PyJWT's (`pyjwt[crypto]`), not ours.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from hospital_shared.auth import Principal, Role

# A person holding several of the platform's roles acts in the most powerful one.
ROLE_PRECEDENCE: tuple[Role, ...] = (
    Role.ADMIN, Role.DIRECTOR, Role.SUPERVISOR, Role.DOCTOR, Role.AGENT, Role.INTEGRATION,
)  # fmt: skip


class InvalidToken(Exception):
    """The token is not one of the provider's, or no longer valid: the caller gets 401."""


class ProviderUnavailable(Exception):
    """The provider's keys have never been fetched (it is away): 503, not the token's fault."""


class NoPlatformRole(Exception):
    """A valid token of someone the provider gave none of the platform's roles: 403."""


@dataclass(frozen=True)
class OidcConfig:
    """What a service checks tokens against (from its settings, see `from_settings`)."""

    issuer: str
    audience: str
    jwks_url: str | None = None
    algorithms: tuple[str, ...] = ("RS256",)
    roles_claim: str = "realm_access.roles"
    staff_id_claim: str = "staff_id"
    department_claim: str = "department"
    name_claim: str = "name"
    leeway_s: float = 0.0
    jwks_max_age_s: float = 3600.0
    jwks_min_refresh_s: float = 30.0
    http_timeout_s: float = 5.0

    @classmethod
    def from_settings(cls, settings: Any) -> OidcConfig | None:
        """None when the service has no identity provider (`OIDC_ISSUER_URL` unset)."""
        if not settings.oidc_issuer_url:
            return None
        return cls(
            issuer=settings.oidc_issuer_url,
            audience=settings.oidc_audience,
            jwks_url=settings.oidc_jwks_url,
            algorithms=tuple(settings.oidc_algorithms),
            roles_claim=settings.oidc_roles_claim,
            staff_id_claim=settings.oidc_staff_id_claim,
            department_claim=settings.oidc_department_claim,
            name_claim=settings.oidc_name_claim,
            leeway_s=settings.oidc_leeway_s,
            jwks_max_age_s=settings.oidc_jwks_max_age_s,
            jwks_min_refresh_s=settings.oidc_jwks_min_refresh_s,
            http_timeout_s=settings.oidc_http_timeout_s,
        )


FetchJson = Callable[[str], Awaitable[dict[str, Any]]]


def http_fetcher(timeout_s: float) -> FetchJson:
    async def fetch(url: str) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            resp = await client.get(url)
            resp.raise_for_status()
            body: dict[str, Any] = resp.json()
            return body

    return fetch


class KeySet:
    """The provider's signing keys by key id, cached; see the module docstring for when it
    fetches them again. `clock` is injectable for the tests of that rule."""

    def __init__(
        self, config: OidcConfig, fetch: FetchJson, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._config = config
        self._fetch = fetch
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # the last fetch that worked: the cache's age
        self._tried_at: float | None = None  # the last attempt: the rate limit
        self._last_error: str | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def key(self, kid: str) -> jwt.PyJWK:
        now = self._clock()
        due = self._tried_at is None or now - self._tried_at >= self._config.jwks_min_refresh_s
        stale = self._fetched_at is None or now - self._fetched_at >= self._config.jwks_max_age_s
        if due and (stale or kid not in self._keys):
            await self._refresh(seen=self._tried_at)
        found = self._keys.get(kid)
        if found is not None:
            return found
        if self._fetched_at is None:
            raise ProviderUnavailable(
                f"the identity provider's keys could not be fetched: {self._last_error}"
            )
        raise InvalidToken(f"no key {kid!r} in the identity provider's key set")

    async def _refresh(self, *, seen: float | None) -> None:
        async with self._lock:
            if self._tried_at != seen:
                return  # another request fetched them while this one waited
            self._tried_at = self._clock()
            try:
                url = self._config.jwks_url or await self._discover_jwks_url()
                jwks = await self._fetch(url)
            except Exception as exc:  # the provider is away: keep the keys we have
                self._last_error = f"{type(exc).__name__}: {exc}"
                return
            self._keys = _usable_keys(jwks, self._config.algorithms)
            self._fetched_at = self._clock()
            self.fetches += 1

    async def _discover_jwks_url(self) -> str:
        issuer = self._config.issuer.rstrip("/")
        meta = await self._fetch(f"{issuer}/.well-known/openid-configuration")
        return str(meta["jwks_uri"])


def _usable_keys(jwks: dict[str, Any], algorithms: Sequence[str]) -> dict[str, jwt.PyJWK]:
    """Signing keys with a key id (encryption keys and unknown key types are skipped)."""
    keys = {}
    for data in jwks.get("keys", []):
        if data.get("use", "sig") != "sig" or "kid" not in data:
            continue
        if data.get("alg") and data["alg"] not in algorithms:
            continue
        try:
            keys[data["kid"]] = jwt.PyJWK.from_dict(data)
        except jwt.PyJWTError:
            continue
    return keys


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


class TokenVerifier:
    """Checks a JWT access token and turns its claims into a `Principal`."""

    def __init__(self, config: OidcConfig, fetch: FetchJson | None = None) -> None:
        self.config = config
        self.keys = KeySet(config, fetch or http_fetcher(config.http_timeout_s))

    async def principal(self, token: str) -> Principal:
        claims = await self.claims(token)
        return principal_from_claims(claims, self.config)

    async def claims(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"not a JWT: {exc}") from exc
        alg = header.get("alg")
        if alg not in self.config.algorithms:
            raise InvalidToken(f"algorithm {alg!r} is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidToken("the token names no key (kid)")
        key = await self.keys.key(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=list(self.config.algorithms),
                audience=self.config.audience,
                issuer=self.config.issuer,
                leeway=self.config.leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        return claims


def _claim(claims: dict[str, Any], path: str) -> Any:
    """A claim by dotted path (`realm_access.roles`), None when any step is missing."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def principal_from_claims(claims: dict[str, Any], config: OidcConfig) -> Principal:
    raw_roles = _claim(claims, config.roles_claim)
    names = set(raw_roles) if isinstance(raw_roles, list) else set()
    role = next((r for r in ROLE_PRECEDENCE if r.value in names), None)
    if role is None:
        raise NoPlatformRole(
            f"the token carries none of the platform's roles ({config.roles_claim}); needs one"
            f" of {sorted(r.value for r in Role)}"
        )
    texts = {
        field: _claim(claims, path)
        for field, path in (
            ("staff_id", config.staff_id_claim),
            ("department", config.department_claim),
            ("name", config.name_claim),
        )
    }
    if texts["name"] is None:
        texts["name"] = claims.get("preferred_username") or claims.get("azp")
    return Principal(role=role, **{k: str(v) if v is not None else None for k, v in texts.items()})
