"""The identity provider's signing keys (its JWKS), cached by key id, for
`jwt_auth.TokenVerifier`.

The JWKS is cached for `OIDC_JWKS_MAX_AGE_S` (5 minutes: a key the provider withdrew, after a
suspected compromise, counts no longer than that), then fetched again at most every
`OIDC_JWKS_MIN_REFRESH_S`. A token naming a key id the cache does not hold (the provider
rotated its keys) fetches them at once, so that the first tokens of a new key count. Made-up
key ids must not turn that into a fetch per request, nor lock a real rotation out: a key id a
fetch did not find is remembered for `OIDC_JWKS_MIN_REFRESH_S` and fetches nothing more in
that time, and all fetches together are at least `OIDC_JWKS_MIN_FETCH_INTERVAL_S` (1 s) apart.
A stream of random key ids thus costs one fetch a second; a new key, fetched by any of them
or by its own first token, is held within a second of its first use. (Before, one made-up key
id closed the gate for 30 s and every fresh token of a rotation in that time was refused.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import httpx
import jwt

if TYPE_CHECKING:
    from hospital_shared.jwt_auth import OidcConfig

FetchJson = Callable[[str], Awaitable[dict[str, Any]]]

# How many key ids not found are remembered at most (see KeySet._remember_not_found).
NOT_FOUND_REMEMBERED = 1024


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
        # Key ids a fetch made for them did not find, with when, oldest first.
        self._not_found: dict[str, float] = {}
        self._lock = asyncio.Lock()
        self.fetches = 0

    @property
    def fetched(self) -> bool:
        """Whether the keys were ever fetched (if not, the provider is away, not the token)."""
        return self._fetched_at is not None

    @property
    def last_error(self) -> str | None:
        return self._last_error

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The key `kid`, fetching the keys first when the rule above says so; None when the
        provider does not publish it (or could never be reached: `fetched`)."""
        if self._fetch_due(kid, self._clock()):
            await self._refresh(kid, seen=self._tried_at)
        return self._keys.get(kid)

    def _fetch_due(self, kid: str, now: float) -> bool:
        """Whether a token naming `kid` fetches the keys first (the module docstring's rule)."""
        if self._tried_at is None:
            return True
        since = now - self._tried_at
        if since < self._config.jwks_min_fetch_interval_s:
            return False
        if kid not in self._keys:
            not_found_at = self._not_found.get(kid)
            return not_found_at is None or now - not_found_at >= self._config.jwks_min_refresh_s
        stale = self._fetched_at is None or now - self._fetched_at >= self._config.jwks_max_age_s
        return stale and since >= self._config.jwks_min_refresh_s

    async def _refresh(self, kid: str, *, seen: float | None) -> None:
        async with self._lock:
            if self._tried_at != seen:
                return  # another request fetched them while this one waited
            self._tried_at = self._clock()
            try:
                url = self._config.jwks_url or await self._discover_jwks_url()
                jwks = await self._fetch(url)
            except Exception as exc:  # the provider is away: keep the keys we have
                self._last_error = f"{type(exc).__name__}: {exc}"
                return  # not "not found": the next token naming it may fetch (a rotation)
            self._keys = _usable_keys(jwks, self._config.algorithms)
            self._fetched_at = self._clock()
            self.fetches += 1
            if kid not in self._keys:
                self._remember_not_found(kid, self._tried_at)

    def _remember_not_found(self, kid: str, at: float) -> None:
        """Remember `kid` for `jwks_min_refresh_s`, forgetting what is older than that and,
        beyond NOT_FOUND_REMEMBERED, the oldest (one entry a fetch: only a fetch interval far
        below a second comes near it)."""
        self._not_found.pop(kid, None)  # re-inserted last: the dict stays oldest first
        while self._not_found:
            oldest, when = next(iter(self._not_found.items()))
            recent = at - when < self._config.jwks_min_refresh_s
            if recent and len(self._not_found) < NOT_FOUND_REMEMBERED:
                break
            del self._not_found[oldest]
        self._not_found[kid] = at

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
