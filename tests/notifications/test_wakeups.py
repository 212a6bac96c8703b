"""The dispatcher and the background loops do not lose a wake-up: a message committed while a
pass is running (after the pass looked) starts the next pass at once, not after the interval."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from hospital_shared.loop import Loop
from notifications import reconciler
from notifications.dispatcher import PAUSED, Claim, Dispatcher


async def _second_pass_comes_at_once(
    passes: list[int], second_pass: asyncio.Event, run: asyncio.Task[None]
) -> None:
    try:
        # Well under the 60 s interval: the second pass was not waiting for it.
        await asyncio.wait_for(second_pass.wait(), timeout=5)
    finally:
        run.cancel()
    assert len(passes) == 2


async def test_the_dispatcher_claims_again_when_woken_during_an_empty_claim() -> None:
    settings = SimpleNamespace(
        dispatch_concurrency=1, dispatch_interval_s=60.0, dispatch_batch_size=10,
        gateway_timeout_s=1.0,
        restore_gateway_check_s=0.0, sms_dispatch_paused=False,
    )  # fmt: skip
    dispatcher = Dispatcher(None, None, settings, None, None)  # type: ignore[arg-type]
    passes: list[int] = []
    second_pass = asyncio.Event()

    async def claim(limit: int) -> Claim:
        passes.append(1)
        if len(passes) == 1:
            dispatcher.wake()  # what the listener does when a handler commits a due message
        else:
            second_pass.set()
        return Claim([], 0)

    async def reconcile() -> None:
        return None

    dispatcher.claim = claim  # type: ignore[method-assign,assignment]
    dispatcher.reconcile = reconcile  # type: ignore[method-assign]
    await _second_pass_comes_at_once(passes, second_pass, asyncio.create_task(dispatcher.run()))


async def test_a_paused_dispatcher_claims_nothing_and_still_wakes_the_staff_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = SimpleNamespace(
        sms_dispatch_paused=True, restore_gateway_check_s=0.0, dispatch_interval_s=0.005
    )
    dispatcher = Dispatcher(None, None, settings, None, lambda: None)  # type: ignore[arg-type]
    touched: list[str] = []
    counted: list[bool] = []
    staff_woken = asyncio.Event()

    async def count(pool: Any, settings: Any, now: Any, *, sms_paused: bool) -> None:
        counted.append(sms_paused)  # the gauges only (test_paused_gauges.py)

    monkeypatch.setattr(reconciler, "count", count)

    async def settle_staff_notes(pool: Any, settings: Any, now: Any) -> None:
        """Settling staff notes a crash left `sending` is a query (the real stack's test)."""

    monkeypatch.setattr(reconciler, "settle_staff_notes", settle_staff_notes)

    async def claim(limit: int) -> Claim:
        touched.append("claim")
        return Claim([], 0)

    async def reconcile() -> None:
        touched.append("reconcile")

    dispatcher.claim = claim  # type: ignore[method-assign,assignment]
    dispatcher.reconcile = reconcile  # type: ignore[method-assign]
    dispatcher.also_wake.append(staff_woken.set)
    PAUSED.set(0)
    run = asyncio.create_task(dispatcher.run())
    try:
        for _ in range(3):  # news of due messages, as the listener passes it on
            staff_woken.clear()
            dispatcher.wake()
            await asyncio.wait_for(staff_woken.wait(), timeout=5)
            await asyncio.sleep(0.05)
        assert not run.done()
    finally:
        run.cancel()
    assert touched == []  # nothing claimed, deferred, expired or reconciled
    assert counted and all(counted)
    assert PAUSED._value.get() == 1


async def test_a_loop_runs_again_when_woken_during_an_empty_pass() -> None:
    passes: list[int] = []
    second_pass = asyncio.Event()
    loop: Loop

    async def one_pass() -> int:
        passes.append(1)
        if len(passes) == 1:
            loop.wake()
        else:
            second_pass.set()
        return 0

    loop = Loop("test", one_pass, interval_s=60.0)
    await _second_pass_comes_at_once(passes, second_pass, asyncio.create_task(loop.run()))
