"""Bearer tokens with roles, for every service's HTTP API.

Two kinds of bearer token count:
- access tokens (JWTs) of the hospital's identity provider (Keycloak, or any OpenID Connect
  provider), when `OIDC_ISSUER_URL` names it: people signed in through the console, and
  hospital systems with a client-credentials grant (`jwt_auth.py` checks them);
- static tokens from settings (`AUTH_TOKENS`, a JSON object token -> principal), for machines
  and the development stack. A development or test stack (`ENV` is development, dev or test, in
  any case) uses the documented development tokens below; any other ENV, unset included, is
  production, where a service refuses to start while any development token is configured,
  and without `AUTH_TOKENS` unless it has an identity provider.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict

from hospital_shared.access_records import record_refused_role
from hospital_shared.http_guard import GuardedRoute
from hospital_shared.settings import DEVELOPMENT_ENVS, is_development_env

if TYPE_CHECKING:
    from hospital_shared.jwt_auth import TokenVerifier


class Role(StrEnum):
    INTEGRATION = "integration"
    AGENT = "agent"
    DOCTOR = "doctor"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    # 院长/主任: takes escalated complaints (serious cases, medical disputes, what a supervisor
    # cannot settle) and approves their resolutions.
    DIRECTOR = "director"


class Principal(BaseModel):
    """Who is calling: a hospital system, a staff member, or operations."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "example": {"role": "agent", "staff_id": "S-AGENT-01", "department": "CS",
                        "name": "客服 王芳"}
        },
    )  # fmt: skip

    role: Role
    staff_id: str | None = None
    department: str | None = None
    name: str | None = None


# The development tokens a local `make up` uses, each tied to a seeded staff member.
# Documented in the README; refused unless ENV names a development or test stack.
DEV_TOKENS: dict[str, Principal] = {
    "dev-integration-token": Principal(role=Role.INTEGRATION, name="HIS integration"),
    "dev-agent-token": Principal(
        role=Role.AGENT, staff_id="S-AGENT-01", department="CS", name="客服 王芳"
    ),
    "dev-doctor-token": Principal(
        role=Role.DOCTOR, staff_id="S-DOC-01", department="CARD", name="医生 李明"
    ),
    "dev-supervisor-token": Principal(
        role=Role.SUPERVISOR, staff_id="S-SUP-01", department="CS", name="客服主管 张伟"
    ),
    # The cardiology ward's head nurse: a cardiology case has her as its supervisor, and only
    # she (not the desk's supervisor) sees it.
    "dev-ward-supervisor-token": Principal(
        role=Role.SUPERVISOR, staff_id="S-SUP-02", department="CARD", name="护士长 孙丽"
    ),
    "dev-admin-token": Principal(role=Role.ADMIN, staff_id="S-ADMIN-01", name="运营部 陈静"),
    "dev-director-token": Principal(
        role=Role.DIRECTOR, staff_id="S-DIR-01", department="ADM", name="院长 周强"
    ),
    # Radiology (放射科): handles imaging disputes and confirms them within 2 hours.
    "dev-radiology-token": Principal(
        role=Role.DOCTOR, staff_id="S-RAD-01", department="RAD", name="放射科医生 吴磊"
    ),
}

# The stack environment's variable for each development token: TOKEN_<ROLE>, and
# TOKEN_WARD_SUPERVISOR for the second supervisor, TOKEN_RADIOLOGY for the radiology doctor.
_NAMED_TOKENS = {
    "dev-ward-supervisor-token": "TOKEN_WARD_SUPERVISOR",
    "dev-radiology-token": "TOKEN_RADIOLOGY",
}
DEV_TOKEN_ENV_NAMES: dict[str, str] = {
    token: _NAMED_TOKENS.get(token, f"TOKEN_{p.role.value.upper()}")
    for token, p in DEV_TOKENS.items()
}


class DevelopmentTokenInProduction(RuntimeError):
    """Raised at start outside a development or test stack when AUTH_TOKENS is missing or
    holds a development token."""


def load_tokens(
    raw_json: str | None, *, env: str | None, identity_provider: bool = False
) -> dict[str, Principal]:
    """Parse `AUTH_TOKENS`; fall back to the development tokens only on a stack whose ENV says
    it is one for development or tests (fail closed: anything else is production, where no
    static token at all is fine only when an identity provider signs people and systems in)."""
    development = is_development_env(env)
    where = f"ENV={env!r} is production (a development or test stack says one of {sorted(DEVELOPMENT_ENVS)})"
    if raw_json:
        parsed: dict[str, Any] = json.loads(raw_json)
        tokens = {token: Principal.model_validate(p) for token, p in parsed.items()}
    elif not development and identity_provider:
        tokens = {}
    elif not development:
        raise DevelopmentTokenInProduction(
            f"{where}: it needs AUTH_TOKENS; refusing to fall back to development tokens"
        )
    else:
        tokens = dict(DEV_TOKENS)
    if not development:
        leaked = sorted(set(tokens) & set(DEV_TOKENS))
        if leaked:
            raise DevelopmentTokenInProduction(
                f"{where}, but {len(leaked)} development token(s) are configured"
            )
    return tokens


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


class TokenAuth:
    """FastAPI dependency factory: `Depends(auth.require(Role.SUPERVISOR))`. A bearer token is
    looked up among the static tokens first, then, when it is a JWT and the service has an
    identity provider, checked by `verifier` (hospital_shared.jwt_auth)."""

    def __init__(self, tokens: dict[str, Principal], verifier: TokenVerifier | None = None) -> None:
        self._tokens = tokens
        self._verifier = verifier
        self._bearer = HTTPBearer(auto_error=False)

    def principal_for(self, token: str) -> Principal | None:
        for known, principal in self._tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                return principal
        return None

    async def authenticate(self, token: str) -> Principal:
        """The principal behind `token`, or the HTTPException (401, 403, 503) to answer."""
        from hospital_shared import jwt_auth

        principal = self.principal_for(token)
        if principal is not None:
            return principal
        if self._verifier is None or not jwt_auth.looks_like_jwt(token):
            raise _unauthorized("unknown bearer token")
        try:
            return await self._verifier.principal(token)
        except jwt_auth.InvalidToken as exc:
            raise _unauthorized(f"invalid access token: {exc}") from exc
        except jwt_auth.NoPlatformRole as exc:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=str(exc)) from exc
        except jwt_auth.ProviderUnavailable as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)) from exc

    def require(self, *roles: Role) -> Callable[..., Any]:
        allowed: Iterable[Role] = roles
        bearer = Depends(self._bearer)

        # No `Annotated[..., Depends(self._bearer)]` here: with postponed annotations FastAPI
        # cannot resolve `self` and would expect `credentials` as a query parameter.
        async def dependency(
            credentials: HTTPAuthorizationCredentials | None = bearer,
        ) -> Principal:
            if credentials is None:
                raise _unauthorized("missing bearer token")
            principal = await self.authenticate(credentials.credentials)
            if allowed and principal.role not in allowed:
                await record_refused_role(principal)  # an audited route's refusal is on record
                raise HTTPException(
                    status.HTTP_403_FORBIDDEN,
                    detail=f"role {principal.role.value!r} may not do this; "
                    f"needs one of {sorted(r.value for r in allowed)}",
                )
            return principal

        return dependency


def whoami_router(auth: TokenAuth) -> APIRouter:
    """`GET /v1/me`: who the service takes the caller for (any role): what a token maps to,
    for the console and for checking an identity provider's claims."""
    router = APIRouter(tags=["auth"], route_class=GuardedRoute)
    anyone = Depends(auth.require())  # a default, not Annotated: see TokenAuth.require

    @router.get("/v1/me", response_model=Principal)
    async def me(principal: Principal = anyone) -> Principal:
        return principal

    return router
