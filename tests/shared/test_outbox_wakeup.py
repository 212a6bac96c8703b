"""The outbox relay does not lose a wake-up: a commit that lands while a pass is running (after
the pass looked) starts the next pass at once, not after the poll interval."""

from __future__ import annotations

import asyncio

from hospital_shared.outbox import OutboxRelay


async def test_a_commit_during_an_empty_pass_starts_the_next_pass_at_once() -> None:
    relay = OutboxRelay(None, publish=None, service="test", poll_interval_s=60.0)  # type: ignore[arg-type]
    passes = 0
    second_pass = asyncio.Event()

    async def relay_once() -> int:
        nonlocal passes
        passes += 1
        if passes == 1:
            relay._wake.set()  # what the listener does when a transaction commits an event
        else:
            second_pass.set()
        return 0

    async def nothing() -> int:
        return 0

    async def no_listener() -> None:
        await asyncio.Event().wait()

    relay.relay_once = relay_once  # type: ignore[method-assign]
    relay.purge_published = nothing  # type: ignore[method-assign]
    relay._listen = no_listener  # type: ignore[method-assign]
    task = asyncio.create_task(relay.run())
    try:
        # Well under the 60 s poll interval: the second pass was not waiting for it.
        await asyncio.wait_for(second_pass.wait(), timeout=5)
    finally:
        task.cancel()
    assert passes == 2
