"""The console's HTTP app in this process, for what its HTTP layer does (headers, error pages,
redirects, token refresh): the real app and routes, with the services and the identity
provider answered by `httpx.MockTransport` handlers, and the session store and sign-in table
by stand-ins in memory. The screens against the real services and Keycloak are tests/e2e's."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import httpx
from fastapi.testclient import TestClient

from console.app import create_app
from console.backend import Backend
from console.oidc import OidcClient
from console.session import Session
from console.settings import Settings
from hospital_shared.jwt_auth import OidcConfig
from hospital_shared.vocabulary import (
    FEEDBACK_OTHER,
    PRAISE_CATEGORIES,
    SUGGESTION_CATEGORIES,
    ComplaintCategory,
)

Handler = Callable[[httpx.Request], httpx.Response]
PROVIDER = {
    "authorization_endpoint": "https://sso.example/auth",
    "token_endpoint": "https://sso.example/token",
    "end_session_endpoint": "https://sso.example/logout",
}


class SessionsInMemory:
    """`SessionStore`'s calls, kept in a dict: each `get` hands out a copy, as a read of the
    table would, so what a request changes only on its copy is lost."""

    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}
        self.lock = asyncio.Lock()

    def add(self, **fields: Any) -> Session:
        session = Session(
            id=f"session-{len(self.sessions) + 1}",
            **{"staff_id": "S-AGENT-01", "roles": ["agent"], "department": "CS",
               "display_name": "客服 王芳", "access_token": "access-1"} | fields,
        )  # fmt: skip
        self.sessions[session.id] = session
        return dataclasses.replace(session)

    async def create(
        self, *, provider_sid: str | None = None, provider_sub: str | None = None, **fields: Any
    ) -> Session:
        """A session as sign-in makes it; the provider's sid and sub are the table's, not the
        `Session`'s (a back-channel logout finds sessions by them: tests/e2e)."""
        return self.add(**fields)

    async def get(self, session_id: str) -> Session | None:
        found = self.sessions.get(session_id)
        return dataclasses.replace(found) if found else None

    async def update_tokens(self, session_id: str, **fields: Any) -> None:
        self.sessions[session_id] = dataclasses.replace(self.sessions[session_id], **fields)

    async def delete(self, session_id: str) -> None:
        self.sessions.pop(session_id, None)

    @contextlib.asynccontextmanager
    async def refreshing(self, session_id: str) -> AsyncIterator[SessionsInMemory]:
        """One refresh at a time (the store's lock is PostgreSQL's: tests/e2e)."""
        async with self.lock:
            yield self


class SignInsInMemory:
    """The pool as /login and /auth/callback use it: one `sign_ins` row at a time."""

    def __init__(self) -> None:
        self.row: dict[str, Any] | None = None

    async def execute(self, sql: str, *args: Any) -> str:
        if sql.startswith("INSERT INTO sign_ins"):
            self.row = {"code_verifier": args[1], "nonce": args[2], "next_path": args[3]}
        return "OK"

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        row, self.row = self.row, None
        return row


# What the complaints service's GET /v1/categories answers with its default settings.
DEFAULT_CATEGORIES = {
    "complaint": list(ComplaintCategory),
    "praise": [*PRAISE_CATEGORIES, FEEDBACK_OTHER],
    "suggestion": [*SUGGESTION_CATEGORIES, FEEDBACK_OTHER],
}


def idle_services(request: httpx.Request) -> httpx.Response:
    """Services with nothing to say: an empty inbox, the default categories, an empty
    department directory, and no record of anything else."""
    if request.url.path == "/v1/inbox/unread":
        return httpx.Response(200, json={"unread": 0})
    if request.url.path == "/v1/departments":
        return httpx.Response(200, json={"items": []})
    if request.url.path == "/v1/categories":
        return httpx.Response(200, json=DEFAULT_CATEGORIES)
    return httpx.Response(404, json={"detail": f"no stand-in for {request.url.path}"})


@dataclasses.dataclass
class Console:
    client: TestClient
    sessions: SessionsInMemory
    sign_ins: SignInsInMemory
    oidc: OidcClient

    def sign_in(self, **fields: Any) -> Session:
        """A session in the store, its cookie in the client."""
        session = self.sessions.add(**fields)
        self.client.cookies.set("console_session", session.id)
        return session


def console(services: Handler = idle_services, provider: Handler | None = None) -> Console:
    """The console app with `services` answering every service and `provider` the identity
    provider's token endpoint (discovery is already done)."""
    settings = Settings(oidc_issuer_url="https://sso.example/realms/h")
    app = create_app(settings)
    app.state.sessions = sessions = SessionsInMemory()
    app.state.pool = sign_ins = SignInsInMemory()
    app.state.backend = Backend(
        settings.service_urls(), httpx.AsyncClient(transport=httpx.MockTransport(services))
    )
    config = OidcConfig(issuer="https://sso.example/realms/h", audience="hospital-api")
    app.state.oidc = oidc = (
        OidcClient(settings, config, transport=httpx.MockTransport(provider))
        if provider
        else OidcClient(settings, config)
    )
    oidc._metadata = dict(PROVIDER)
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    return Console(client, sessions, sign_ins, oidc)


def expired() -> datetime:
    return datetime(2020, 1, 1).astimezone()
