"""A background pass run again and again: at once when woken (a handler committed a message),
else every `interval_s`; a failing pass (database away) is retried with backoff."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)


class Loop:
    def __init__(self, name: str, one_pass: Callable[[], Awaitable[int]], interval_s: float):
        self.name = name
        self.one_pass = one_pass
        self.interval_s = interval_s
        self.healthy = True
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        backoff = self.interval_s
        while True:
            # Cleared before the pass, not after it: a wake-up that comes while the pass runs
            # (after it looked) must start the next pass at once, not wait out the interval.
            self._wake.clear()
            try:
                done = await self.one_pass()
                self.healthy = True
                backoff = self.interval_s
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.healthy = False
                log.warning("pass failed, will retry", loop=self.name, error=repr(exc))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            if done == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.interval_s)
