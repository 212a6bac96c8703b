"""People's (and hospital systems') access tokens from the hospital's identity provider:
JWTs issued by Keycloak, or any OpenID Connect provider, checked by every service.

A token counts when its signature verifies against a key of the provider's JWKS (fetched from
`OIDC_JWKS_URL`, or the `jwks_uri` of `<OIDC_ISSUER_URL>/.well-known/openid-configuration`),
with an allowed algorithm (`OIDC_ALGORITHMS`, RS256 by default: never `none`, never a shared
secret), and its `iss` is the issuer, its `aud` holds `OIDC_AUDIENCE`, `exp` has not passed
and `nbf` (when given) has come. When `OIDC_ALLOWED_CLIENTS` names clients, the token must also
have been issued to one of them (its `azp`): every client of the realm may get the audience,
the development CLI's password grant too, which skips whatever the hospital adds to the
browser's sign-in (a one-time password). The principal is read from its claims: the role from
the roles claim (Keycloak's realm roles by default), staff id, department and name from theirs.

The JWKS is cached, and fetched again when it is old or a token names a key id it does not
hold (a rotation), at most so often: `jwks.py`. Verification itself is PyJWT's
(`pyjwt[crypto]`), not ours.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import structlog

from hospital_shared.auth import Principal, Role
from hospital_shared.jwks import FetchJson, KeySet, http_fetcher

log = structlog.get_logger(__name__)

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
    allowed_clients: tuple[str, ...] = ()  # the `azp`s that count; empty: any
    algorithms: tuple[str, ...] = ("RS256",)
    roles_claim: str = "realm_access.roles"
    staff_id_claim: str = "staff_id"
    department_claim: str = "department"
    name_claim: str = "name"
    leeway_s: float = 0.0
    jwks_max_age_s: float = 300.0
    jwks_min_refresh_s: float = 30.0
    jwks_min_fetch_interval_s: float = 1.0
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
            allowed_clients=tuple(settings.oidc_allowed_clients),
            algorithms=tuple(settings.oidc_algorithms),
            roles_claim=settings.oidc_roles_claim,
            staff_id_claim=settings.oidc_staff_id_claim,
            department_claim=settings.oidc_department_claim,
            name_claim=settings.oidc_name_claim,
            leeway_s=settings.oidc_leeway_s,
            jwks_max_age_s=settings.oidc_jwks_max_age_s,
            jwks_min_refresh_s=settings.oidc_jwks_min_refresh_s,
            jwks_min_fetch_interval_s=settings.oidc_jwks_min_fetch_interval_s,
            http_timeout_s=settings.oidc_http_timeout_s,
        )


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


class TokenVerifier:
    """Checks a JWT access token and turns its claims into a `Principal`."""

    def __init__(
        self,
        config: OidcConfig,
        fetch: FetchJson | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.keys = KeySet(config, fetch or http_fetcher(config.http_timeout_s), clock)

    async def principal(self, token: str) -> Principal:
        claims = await self.claims(token)
        return principal_from_claims(claims, self.config)

    async def claims(
        self, token: str, *, required: tuple[str, ...] = ("exp", "iss", "aud", "sub")
    ) -> dict[str, Any]:
        """The token's claims once its signature, algorithm, issuer, audience and times hold
        and the `required` claims are there (an access or ID token's by default; a logout
        token has no `exp` or `sub` to require)."""
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
        if key is None and not self.keys.fetched:
            raise ProviderUnavailable(
                f"the identity provider's keys could not be fetched: {self.keys.last_error}"
            )
        if key is None:
            raise InvalidToken(f"no key {kid!r} in the identity provider's key set")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=list(self.config.algorithms),
                audience=self.config.audience,
                issuer=self.config.issuer,
                leeway=self.config.leeway_s,
                options={"require": list(required)},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        self._check_client(claims)
        return claims

    def _check_client(self, claims: dict[str, Any]) -> None:
        """Refuse a token of a client not in `allowed_clients`: why, with the client, is for
        the log; the caller learns only that its token does not count here."""
        allowed = self.config.allowed_clients
        client = claims.get("azp")
        if allowed and client not in allowed:
            log.warning(
                f"access token refused: its client (azp) {client!r} is not in OIDC_ALLOWED_CLIENTS",
                azp=client,
                sub=claims.get("sub"),
            )
            raise InvalidToken("issued to a client that may not call this service")


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
