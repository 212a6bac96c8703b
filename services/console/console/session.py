"""Server-side sessions of signed-in staff, and the two checks every page uses.

The browser holds only a random session id (cookie `HttpOnly`, `SameSite=Lax`, `Secure`
outside the dev stack); the tokens stay here, in the console's own `sessions` table, keyed
by the id's SHA-256 and sealed with the platform's field encryption (field_crypto.py, the
`DATA_ENCRYPTION_KEY` the services use): a dump of the table or a psql prompt shows no token
that could call a service as the person. `require_session` sends a request without a live session to `/login`;
`checked_form` is the one CSRF check of every POST form (a per-session token in a hidden
field, compared in constant time).

A session ends when it has been idle `CONSOLE_SESSION_IDLE_S` (8 h, a shift), and at the latest
`CONSOLE_SESSION_MAX_S` after sign-in (10 h, the identity provider's SSO maximum), however often
it is used: a refresh token that the provider keeps renewing cannot keep it alive for longer.

One request at a time refreshes a session (`SessionStore.refreshing`), across the console's
instances: a provider that rotates refresh tokens (Keycloak's `revokeRefreshToken`) refuses the
token a second refresh would use, and two tabs at an expired access token ended the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import hmac
import secrets
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import asyncpg
import structlog
from fastapi import Depends, Request
from starlette.datastructures import FormData

from hospital_shared.field_crypto import BadKey, Undecryptable, open_fields, seal

LOGIN_PATH = "/login"
CSRF_FIELD = "csrf_token"
SESSION_MAX_S = 10 * 3600.0  # Keycloak's ssoSessionMaxLifespan in the development realm


class SignInRequired(Exception):
    """No live session (or the services refused its token): sign in again, then come back."""

    def __init__(self, next_path: str = "/") -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRejected(Exception):
    """A POST without this session's CSRF token: answered 403, nothing done."""


@dataclass
class Session:
    id: str
    staff_id: str
    roles: list[str]
    department: str | None
    display_name: str
    access_token: str
    refresh_token: str | None = None
    access_expires_at: datetime | None = None
    id_token: str | None = None
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def has_role(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)

    def access_expired(self, now: datetime) -> bool:
        return self.access_expires_at is not None and self.access_expires_at <= now


def _hash(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()


# The bearer credentials: sealed on the way in, opened on the way out, nowhere else.
log = structlog.get_logger(__name__)
SEALED = ("access_token", "refresh_token", "id_token")
_COLUMNS = (
    "staff_id, roles, department, display_name, access_token, refresh_token,"
    " access_expires_at, id_token, csrf_token"
)

# A session the identity provider ended (a back-channel logout, `end_at_provider`): its
# provider session, or its person before the logout was issued. `s` is the session's row.
_NOT_ENDED_AT_PROVIDER = (
    "NOT EXISTS (SELECT 1 FROM provider_logouts l WHERE l.sid = s.provider_sid)"
    " AND NOT EXISTS (SELECT 1 FROM provider_logouts l WHERE l.sid IS NULL"
    " AND l.sub = s.provider_sub AND l.issued_at >= s.created_at)"
)
# The advisory lock a refresh holds, per session (the first 4 bytes of its id's hash: two
# sessions sharing a key only wait for each other's refresh). Held by the connection, not in a
# transaction: the reads and writes under it commit at once, and a page's `get` (which marks
# the row used) does not wait for the provider's answer.
_REFRESH_LOCK = "SELECT pg_advisory_lock(hashtext('console:refresh'), $1)"
_REFRESH_UNLOCK = "SELECT pg_advisory_unlock(hashtext('console:refresh'), $1)"


class SessionStore:
    """create / get / update_tokens / delete / end_at_provider over `console.sessions`."""

    def __init__(self, pool: asyncpg.Pool, *, idle_s: float, max_s: float = SESSION_MAX_S) -> None:
        self.pool = pool
        # where get / update_tokens / delete run: the pool, or a refresh's locked connection
        self.db: asyncpg.Pool | asyncpg.Connection = pool
        self.idle = timedelta(seconds=idle_s)
        self.max = timedelta(seconds=max_s)
        # this instance's refreshes under way: its requests wait here, not each on a connection
        self._refreshes: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    async def create(
        self,
        *,
        staff_id: str,
        roles: list[str],
        department: str | None,
        display_name: str,
        access_token: str,
        refresh_token: str | None = None,
        access_expires_at: datetime | None = None,
        id_token: str | None = None,
        provider_sid: str | None = None,
        provider_sub: str | None = None,
    ) -> Session:
        """A new session; `provider_sid` / `provider_sub` (the ID token's `sid` and `sub`)
        are what a back-channel logout names it by (`end_at_provider`)."""
        session = Session(
            id=secrets.token_urlsafe(32),
            staff_id=staff_id,
            roles=list(roles),
            department=department,
            display_name=display_name,
            access_token=access_token,
            refresh_token=refresh_token,
            access_expires_at=access_expires_at,
            id_token=id_token,
        )
        await self.pool.execute(
            f"INSERT INTO sessions (id_hash, {_COLUMNS}, provider_sid, provider_sub)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            _hash(session.id),
            *_values(session),
            provider_sid,
            provider_sub,
        )
        return session

    async def get(self, session_id: str) -> Session | None:
        """The live session with this id (and it is marked used), or None: unknown, idle
        longer than the limit, older than the maximum, or ended by the identity provider
        (`end_at_provider`; then it is deleted)."""
        row = await self.db.fetchrow(
            f"UPDATE sessions s SET last_seen_at = now() WHERE id_hash = $1"
            f" AND last_seen_at > now() - $2::interval AND created_at > now() - $3::interval"
            f" AND {_NOT_ENDED_AT_PROVIDER} RETURNING {_COLUMNS}",
            _hash(session_id),
            self.idle,
            self.max,
        )
        if row is None:
            await self.delete(session_id)
            return None
        try:
            opened = open_fields(row, SEALED)
        except (Undecryptable, BadKey):
            # sealed under a key no longer held (dropped after a rotation): signed out, not a
            # 500 on every page until the session times out
            log.warning(
                "session sealed under a key no longer held: ended", staff_id=row["staff_id"]
            )
            await self.delete(session_id)
            return None
        return Session(id=session_id, **{**opened, "roles": list(row["roles"])})

    async def update_tokens(
        self,
        session_id: str,
        *,
        roles: list[str],
        department: str | None,
        access_token: str,
        refresh_token: str | None,
        access_expires_at: datetime | None,
        id_token: str | None = None,
    ) -> None:
        """After a refresh: the new tokens (an id token only when the provider sent one) and
        what the new access token says of the person, so a new role or department holds from
        the next refresh on, not from the next sign-in."""
        await self.db.execute(
            "UPDATE sessions SET roles = $2, department = $3, access_token = $4,"
            " refresh_token = $5, access_expires_at = $6, id_token = COALESCE($7, id_token)"
            " WHERE id_hash = $1",
            _hash(session_id),
            list(roles),
            department,
            seal(access_token),
            seal(refresh_token),
            access_expires_at,
            seal(id_token),
        )

    async def delete(self, session_id: str) -> None:
        await self.db.execute("DELETE FROM sessions WHERE id_hash = $1", _hash(session_id))

    @contextlib.asynccontextmanager
    async def refreshing(self, session_id: str) -> AsyncIterator[SessionStore]:
        """The store as one request refreshing session `session_id` uses it: no other request
        of any instance gets here for that session until this one's block ends (its writes
        committed). Read the session again inside: the request before may have refreshed it."""
        waiting = self._refreshes.setdefault(session_id, asyncio.Lock())
        key = int.from_bytes(_hash(session_id)[:4], "big", signed=True)
        async with waiting, self.pool.acquire() as conn:
            try:
                await conn.execute(_REFRESH_LOCK, key)
                held = copy.copy(self)
                held.db = conn
                try:
                    yield held
                finally:
                    await conn.execute(_REFRESH_UNLOCK, key)
            except BaseException:
                # The lock is the connection's: whatever failed (the provider away, a cancelled
                # request), the connection goes, and the lock with it, rather than back to the
                # pool locked (db.keep_session unlocks nothing).
                conn.terminate()
                raise

    async def end_at_provider(
        self, *, sid: str | None, sub: str | None, issued_at: float
    ) -> list[str]:
        """The identity provider ended its session `sid` (or, without one, every session of
        person `sub` begun before `issued_at`): delete the sessions it names, and record it,
        so that no instance serves them and a sign-in still under way is refused at its first
        request (`get`). The staff ids of the sessions deleted, for the log."""
        issued = datetime.fromtimestamp(issued_at, UTC)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO provider_logouts (sid, sub, issued_at) VALUES ($1, $2, $3)",
                sid, sub, issued,
            )  # fmt: skip
            rows = await conn.fetch(
                "DELETE FROM sessions WHERE provider_sid = $1"
                " OR (provider_sub = $2 AND created_at <= $3) RETURNING staff_id",
                sid, sub, issued,
            )  # fmt: skip
        return [row["staff_id"] for row in rows]

    async def purge_idle(self) -> int:
        """Delete the sessions over: idle past the limit, or older than the maximum; and the
        provider's logouts older than the maximum (no session they could end is left)."""
        await self.pool.execute(
            "DELETE FROM provider_logouts WHERE received_at <= now() - $1::interval", self.max
        )
        status = await self.pool.execute(
            "DELETE FROM sessions WHERE last_seen_at <= now() - $1::interval"
            " OR created_at <= now() - $2::interval",
            self.idle,
            self.max,
        )
        return int(status.split()[-1])


def _values(s: Session) -> tuple[Any, ...]:
    return (
        s.staff_id,
        s.roles,
        s.department,
        s.display_name,
        seal(s.access_token),
        seal(s.refresh_token),
        s.access_expires_at,
        seal(s.id_token),
        s.csrf_token,
    )


def _next_path(request: Request) -> str:
    query = f"?{request.url.query}" if request.url.query else ""
    return request.url.path + query if request.method == "GET" else "/"


async def require_session(request: Request) -> Session:
    """The signed-in person's session; without one, a redirect to sign in (then back here).
    An expired access token is refreshed by `app.state.refresh_session` when sign-in
    installed one (console/signin.py), else the person signs in again."""
    store: SessionStore = request.app.state.sessions
    cookie = request.cookies.get(request.app.state.settings.session_cookie)
    session = await store.get(cookie) if cookie else None
    if session is None:
        raise SignInRequired(_next_path(request))
    if session.access_expired(datetime.now(UTC)):
        refresh = getattr(request.app.state, "refresh_session", None)
        session = await refresh(request, session) if refresh is not None else None
        if session is None:
            raise SignInRequired(_next_path(request))
    request.state.session = session
    return session


CurrentSession = Annotated[Session, Depends(require_session)]


async def checked_form(request: Request, session: CurrentSession) -> FormData:
    """The POSTed form, once its CSRF token is this session's (every form carries it)."""
    form = await request.form()
    given = form.get(CSRF_FIELD)
    # as bytes: compare_digest refuses a str with non-ASCII characters (a TypeError, a 500)
    if not isinstance(given, str) or not hmac.compare_digest(
        given.encode(), session.csrf_token.encode()
    ):
        raise CsrfRejected()
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


def set_session_cookie(response: Any, session: Session, *, name: str, secure: bool) -> None:
    """The cookie that carries the session id: not readable by scripts, not sent on
    cross-site POSTs, HTTPS-only outside the development stack."""
    response.set_cookie(name, session.id, httponly=True, samesite="lax", secure=secure, path="/")
