"""The survey page's request limits, held in PostgreSQL so that every instance of the service
counts the same requests: a phone or a crawler that meets two instances behind a load
balancer gets the limit once, not once per instance.

A fixed window per key (`survey_rate_window_s`): the first request of a window inserts the
key's counter, the others add one to it, in one statement (two keys, the client address and
the link, in one round trip). A fixed window lets a caller make up to twice the limit across
a window's edge; the in-process sliding log (`RateLimiter`) in front of it still holds each
instance to the limit in any window, and the shared counter holds all of them together.
Counters of windows before the previous one are deleted once per window by each instance."""

from __future__ import annotations

import math
import time

import asyncpg

_HIT = """
INSERT INTO survey_rate_hits AS h (key, window_start, hits)
SELECT k, to_timestamp($2), 1 FROM unnest($1::text[]) AS k
ON CONFLICT (key, window_start) DO UPDATE SET hits = h.hits + 1
RETURNING key, hits
"""


class SharedLimits:
    """Hits per key and window across every instance; `allowed` says which keys are within
    their limit after counting this request."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._cleaned: float | None = None

    def window_start(self, now: float) -> float:
        return math.floor(now / self.window_s) * self.window_s

    async def hits(
        self, conn: asyncpg.Connection, keys: list[str], now: float | None = None
    ) -> dict[str, int]:
        """Count one request for each of `keys`; their hits in this window, this one included."""
        start = self.window_start(time.time() if now is None else now)
        if self._cleaned != start:
            await conn.execute(
                "DELETE FROM survey_rate_hits WHERE window_start < to_timestamp($1)",
                start - self.window_s,
            )
            self._cleaned = start
        rows = await conn.fetch(_HIT, keys, start)
        return {r["key"]: r["hits"] for r in rows}
