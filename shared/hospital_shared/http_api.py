"""What every service's HTTP routes share: dependencies, one paging style, one time and one
phone convention on the wire.

Routers are module-level (`router = audited_router(...)` at import), so nothing a route needs
can be captured from a builder's arguments; it comes from the app's runtime at request time:

    from hospital_shared.http_api import Conn, Page, PageQuery, require

    Staff = Annotated[Principal, Depends(require(Role.AGENT, Role.DOCTOR))]

    @router.get("/tasks", response_model=Page[TaskOut])
    async def list_tasks(conn: Conn, staff: Staff, page: PageQuery) -> Page[TaskOut]: ...

- `Pool`, `Conn`: the runtime's asyncpg pool, and a connection from it for one request.
- `require(*roles)`: the caller's `Principal` when their bearer token has one of the roles
  (any role when none is named); 401 without a known token, 403 for another role. The check is
  `TokenAuth.require`'s, run against the runtime's `auth` (static tokens and the identity
  provider), so a refusal is answered and recorded exactly as before.
- `CurrentStaff`: any authenticated caller.
- `Page[T]`: every list answers `{"items": [...], "next": <link or null>, "limit": n}`; the
  link carries an opaque `cursor` (`encode_cursor` / `decode_cursor`); `page_query(default,
  maximum)` reads `limit` (1..maximum) and `cursor`. A bad cursor is a 422 naming `cursor`.
- Times: UTC with `Z` (`wire_time`, `WireTime`). One convention, and this one because pydantic
  already writes an aware UTC datetime that way (so every response model agrees without help),
  asyncpg reads `timestamptz` as UTC, CloudEvents' `time` and JavaScript's `toISOString` use it,
  and a UTC text sorts as it reads; the hospital's own zone is a display matter (the console
  shows local time). Inputs must carry an offset (any: `+08:00` is fine); naive is refused.
- Phones: E.164 (`+8613800138000`; `e164`, `E164Phone`): what the SMS gateway and the
  registration service store; a console shows it as it likes.
"""

# No `from __future__ import annotations`: `page_query` and `require` build dependencies whose
# annotations name their arguments (`maximum`), which FastAPI could not resolve from text.
import base64
import binascii
import json
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Generic, TypeVar

import asyncpg
import phonenumbers
from fastapi import Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer

from hospital_shared.auth import Principal, Role, TokenAuth

# --- dependencies --------------------------------------------------------------------------

# The same scheme `TokenAuth` declares, so OpenAPI names one `HTTPBearer` security scheme.
_bearer = HTTPBearer(auto_error=False)
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _runtime(request: Request) -> Any:
    return request.app.state.runtime


def pool_of(request: Request) -> asyncpg.Pool:
    """The runtime's pool (started with the app; a request never arrives before it)."""
    pool: asyncpg.Pool | None = _runtime(request).pool
    if pool is None:
        raise HTTPException(503, "the service is starting")
    return pool


async def _connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    async with pool_of(request).acquire() as conn:
        yield conn


Pool = Annotated[asyncpg.Pool, Depends(pool_of)]
Conn = Annotated[asyncpg.Connection, Depends(_connection)]


@lru_cache(maxsize=256)
def _check(auth: TokenAuth, roles: tuple[Role, ...]) -> Callable[..., Any]:
    """`TokenAuth.require`'s dependency for this runtime's auth and these roles, built once."""
    return auth.require(*roles)


def require(*roles: Role) -> Callable[..., Any]:
    """A dependency: the caller's principal when it holds one of `roles` (any role if none).
    Use as `Annotated[Principal, Depends(require(Role.SUPERVISOR))]`."""

    async def principal(request: Request, credentials: Bearer) -> Principal:
        auth: TokenAuth = _runtime(request).auth
        found: Principal = await _check(auth, roles)(credentials)
        return found

    principal.__name__ = "require_" + "_".join(r.value for r in roles) if roles else "anyone"
    return principal


CurrentStaff = Annotated[Principal, Depends(require())]


# --- paging --------------------------------------------------------------------------------

T = TypeVar("T")
P = TypeVar("P")
DEFAULT_LIMIT, MAX_LIMIT = 50, 200


class Page(BaseModel, Generic[T]):
    """One page of a list. `next` is the link to the following page (the same query with its
    `cursor`), null on the last one; follow it until it is null."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {"items": [], "next": "/v1/things?limit=50&cursor=eyJrIjoxfQ", "limit": 50}
        }
    )

    items: list[T]
    next: str | None = Field(description="the next page's link (path and query), null at the end")
    limit: int = Field(ge=1, description="the most items a page holds (the query's limit)")


class BadCursor(ValueError):
    """A cursor this service did not write (or a later version cannot read)."""


def encode_cursor(position: Mapping[str, Any]) -> str:
    """An opaque cursor for `position` (JSON-able values: the last item's sort key and id, or
    an offset); clients pass it back unread."""
    raw = json.dumps(dict(position), separators=(",", ":"), sort_keys=True, default=str)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, keys: frozenset[str] | set[str]) -> dict[str, Any]:
    """The position `encode_cursor` wrote, holding exactly `keys`; BadCursor otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise BadCursor("not a cursor of this list") from exc
    if not isinstance(position, dict) or set(position) != set(keys):
        raise BadCursor("not a cursor of this list")
    return position


# The largest id a PostgreSQL `bigint` (every list's `bigserial` id) holds.
MAX_ID = 2**63 - 1


def position_id(value: Any) -> int:
    """An id as a cursor's position holds it (`read_position`'s reader: `lambda p:
    position_id(p["id"])`): a JSON integer a `bigint` holds. Anything else is a ValueError (a
    422 naming `cursor`), never a query PostgreSQL refuses (a 500)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise ValueError("not an id")
    return value


def position_text(value: Any) -> str:
    """A text key as a cursor's position holds it: a string PostgreSQL can store (no NUL, no
    lone surrogate); a ValueError otherwise, as `position_id`."""
    if not isinstance(value, str) or "\x00" in value:
        raise ValueError("not a key")
    value.encode()  # UnicodeEncodeError (a ValueError) for a lone surrogate
    return value


def cursor_refused(exc: BadCursor) -> HTTPException:
    """The 422 for a bad cursor, in the field-error shape (problems.py) naming `cursor`."""
    error = {"loc": ["query", "cursor"], "msg": str(exc), "type": "value_error"}
    return HTTPException(422, detail=[error])


class PageRequest(BaseModel):
    """A list request's `limit` and `cursor`, and the link to the page after one."""

    model_config = ConfigDict(frozen=True)

    limit: int
    cursor: str | None = None

    def position(self, keys: frozenset[str] | set[str]) -> dict[str, Any] | None:
        """Where this page starts (None: at the beginning); a bad cursor is a 422."""
        if self.cursor is None:
            return None
        try:
            return decode_cursor(self.cursor, keys=keys)
        except BadCursor as exc:
            raise cursor_refused(exc) from None

    def read_position(
        self, keys: frozenset[str] | set[str], read: Callable[[dict[str, Any]], P]
    ) -> P | None:
        """Where this page starts, as `read` makes it of the cursor's position (a keyset:
        `lambda p: (datetime.fromisoformat(p["due_at"]), position_id(p["id"]))`: read ids and
        text keys with `position_id` and `position_text`); None at the beginning. A
        cursor `read` cannot take (a forged value) is a 422 naming `cursor`, as a bad one is."""
        position = self.position(keys)
        if position is None:
            return None
        try:
            return read(position)
        except (TypeError, ValueError, KeyError, OverflowError):
            raise cursor_refused(BadCursor("not a cursor of this list")) from None

    def page(self, request: Request, items: list[T], last: Mapping[str, Any] | None) -> Page[T]:
        """`items` as a page; `last` is the position after its last item when more may follow
        (the caller fetched `limit + 1` and saw one more), else None."""
        link = None
        if last is not None:
            url = request.url.include_query_params(cursor=encode_cursor(last), limit=self.limit)
            link = f"{url.path}?{url.query}"
        return Page[T](items=items, next=link, limit=self.limit)


def page_query(
    default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT
) -> Callable[..., PageRequest]:
    """A dependency reading `limit` (1..maximum, `default` when absent) and `cursor`."""

    def read(
        limit: Annotated[
            int, Query(ge=1, le=maximum, description=f"the most items to answer (≤ {maximum})")
        ] = default,
        cursor: Annotated[
            str | None,
            Query(max_length=2000, description="from the previous page's `next` link; opaque"),
        ] = None,
    ) -> PageRequest:
        return PageRequest(limit=limit, cursor=cursor)

    return read


PageQuery = Annotated[PageRequest, Depends(page_query())]


def split_page(rows: list[T], limit: int) -> tuple[list[T], bool]:
    """Rows fetched with `limit + 1`: the page's rows, and whether more follow."""
    return rows[:limit], len(rows) > limit


# --- times ---------------------------------------------------------------------------------


def wire_time(moment: datetime) -> str:
    """`moment` as the APIs write it: RFC 3339 in UTC with `Z`. A naive datetime is a bug (its
    zone is unknown), refused rather than guessed."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a time without its offset cannot be written")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def optional_wire_time(moment: datetime | None) -> str | None:
    return None if moment is None else wire_time(moment)


# An instant in a response (and a request): any offset in, UTC with `Z` out.
WireTime = Annotated[
    AwareDatetime,
    PlainSerializer(wire_time, return_type=str, when_used="json"),
    Field(json_schema_extra={"example": "2026-01-02T02:00:00Z"}),
]


# --- phones --------------------------------------------------------------------------------


class NotAPhone(ValueError):
    """Not a phone number of the given region (or with its own country code)."""


def e164(raw: str, region: str = "CN") -> str:
    """`raw` (`138 0013 8000`, `+86 138-0013-8000`, `008613800138000`) in E.164 form
    (`+8613800138000`); NotAPhone when it is not a possible number."""
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise NotAPhone(f"not a phone number ({exc.error_type})") from None
    if not phonenumbers.is_possible_number(parsed):
        raise NotAPhone("not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def wire_phone(raw: str | None, region: str = "CN") -> str | None:
    """A stored phone as the APIs write it: E.164 when it parses, else as stored (a number
    recorded before validation is shown, not hidden behind an error)."""
    if raw is None:
        return None
    try:
        return e164(raw, region)
    except NotAPhone:
        return raw


def masked_phone(raw: str | None, region: str = "CN") -> str | None:
    """A stored phone as a person who may not read it sees it, in every service alike: its
    E.164 form (wire_phone) with four digits before the last four hidden (`+86138****8000`),
    `****` when too short to show any of it. Enough to recognise a number a patient reads
    out, not enough to call it."""
    shown = wire_phone(raw, region)
    if not shown:
        return shown
    return shown[:-8] + "****" + shown[-4:] if len(shown) > 8 else "****"


# A phone in a request or response: normalised to E.164 when read, written as it is held.
E164Phone = Annotated[
    str,
    AfterValidator(e164),
    Field(max_length=32, json_schema_extra={"example": "+8613800138000"}),
]
