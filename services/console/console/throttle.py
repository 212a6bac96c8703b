"""How many sign-ins one client address may begin: a token bucket per address, in this
process's memory, for `/login` and for `/auth/callback` (each its own bucket). Every `/login`
stores a `sign_ins` row and sends the browser to the identity provider, and every callback
calls the provider's token endpoint: without a limit one address could make the console start
sign-ins without end. Past the limit: 429 with `Retry-After` and a page in the page's language.

A bucket holds `CONSOLE_LOGIN_RATE_PER_MINUTE` requests (30: a minute's worth at once) and
refills at that rate. The address is the request's client as uvicorn gives it, which takes
`X-Forwarded-For` only from the proxies in `FORWARDED_ALLOW_IPS` (uvicorn's setting, default
the loopback addresses): behind a proxy elsewhere, name it there, or every person counts as
the proxy's one address. Each instance counts on its own (n instances: n times the rate at
most); at most `MAX_ADDRESSES` addresses are kept, those unseen longest forgotten first (a
forgotten address starts again with a full bucket).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from fastapi import Request

MAX_ADDRESSES = 100_000


class TooManySignIns(Exception):
    """Past the address's limit: 429, try again in `retry_after_s` seconds."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many sign-ins from this address; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class AddressBuckets:
    """A token bucket per key: `per_minute` tokens at most, refilled at `per_minute` a minute."""

    def __init__(
        self,
        per_minute: float,
        *,
        max_keys: int = MAX_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = per_minute
        self.per_second = per_minute / 60.0
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, when

    def take(self, key: str) -> float:
        """Take a token for `key`: 0 when there was one, else the seconds until there is."""
        now = self._clock()
        tokens, then = self._buckets.pop(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - then) * self.per_second)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / self.per_second
        self._buckets[key] = (tokens - 1 if wait == 0 else tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait


def client_address(request: Request) -> str:
    return request.client.host if request.client else "-"


async def sign_in_throttle(request: Request) -> None:
    """Dependency of `/login` and `/auth/callback`: refuse past the address's limit."""
    buckets: dict[str, AddressBuckets] = request.app.state.sign_in_buckets
    route = request.url.path
    found = buckets.get(route)
    if found is None:
        found = buckets[route] = AddressBuckets(request.app.state.settings.login_rate_per_minute)
    wait = found.take(client_address(request))
    if wait > 0:
        raise TooManySignIns(max(1, math.ceil(wait)))
