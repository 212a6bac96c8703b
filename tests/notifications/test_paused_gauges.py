"""While SMS dispatch is paused (`NOTIFICATIONS_SMS_DISPATCH_PAUSED`) the reconciler's gauges
stay true: the paused dispatcher counts them at the reconciler's pace, nothing settled or
expired. Held by the pause, no SMS waits for the gateway; staff email and webhook notes, still
sent, are counted as they wait for their server. The database is a fake here; the counting
queries are tests/integration's."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from notifications import reconciler, sending
from notifications.dispatcher import Dispatcher
from notifications.reconciler import (
    OUTCOME_UNKNOWN_SMS,
    RECEIPT_OVERDUE_SMS,
    WAITING_FOR_GATEWAY_SMS,
    WAITING_FOR_SERVER_STAFF,
    waiting_shown,
)


class Pool:
    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[object]:
        yield object()


def gauges() -> dict[str, float]:
    return {
        "sms": WAITING_FOR_GATEWAY_SMS._value.get(),
        "email": WAITING_FOR_SERVER_STAFF.labels("email")._value.get(),
        "webhook": WAITING_FOR_SERVER_STAFF.labels("webhook")._value.get(),
        "outcome_unknown": OUTCOME_UNKNOWN_SMS._value.get(),
        "receipt_overdue": RECEIPT_OVERDUE_SMS._value.get(),
    }


def test_sms_held_by_the_pause_do_not_wait_for_the_gateway() -> None:
    waiting = {"sms": 4, "email": 2}
    assert waiting_shown(waiting, sms_paused=False) == {"sms": 4, "email": 2, "webhook": 0}
    assert waiting_shown(waiting, sms_paused=True) == {"sms": 0, "email": 2, "webhook": 0}


async def test_a_paused_dispatcher_keeps_the_gauges_true(monkeypatch: pytest.MonkeyPatch) -> None:
    """Four SMS pending as `gateway_retry` from before the pause, then two emails waiting for
    the mail relay, then none: the gauges follow, whatever they said before (5, 9: stale)."""
    waiting: dict[str, int] = {"sms": 4, "email": 2}

    async def count_waiting_for_gateway(conn: Any) -> dict[str, int]:
        return dict(waiting)

    async def count_unsettled(conn: Any, receipt_overdue_before: datetime) -> tuple[int, int]:
        return 1, 3

    monkeypatch.setattr(sending, "count_waiting_for_gateway", count_waiting_for_gateway)
    monkeypatch.setattr(sending, "count_unsettled", count_unsettled)

    async def settle_staff_notes(pool: Any, settings: Any, now: Any) -> None:
        """Settling staff notes a crash left `sending` is a query (the real stack's test)."""

    monkeypatch.setattr(reconciler, "settle_staff_notes", settle_staff_notes)
    WAITING_FOR_GATEWAY_SMS.set(5)
    WAITING_FOR_SERVER_STAFF.labels("email").set(9)
    settings = SimpleNamespace(
        sms_dispatch_paused=True, restore_gateway_check_s=0.0, dispatch_interval_s=0.005,
        receipt_overdue_min=60,
    )  # fmt: skip
    clock = lambda: datetime.now(UTC)  # noqa: E731
    dispatcher = Dispatcher(Pool(), None, settings, None, clock)  # type: ignore[arg-type]
    run = asyncio.create_task(dispatcher.run())
    try:
        expected = {"sms": 0, "email": 2, "webhook": 0, "outcome_unknown": 1, "receipt_overdue": 3}
        await _until(lambda: gauges() == expected)
        waiting.clear()  # the mail relay is back: the notes went
        await _until(lambda: gauges()["email"] == 0)
        assert not run.done() and dispatcher.healthy
    finally:
        run.cancel()


async def _until(check: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110 (polls the gauges the dispatcher sets)
            await asyncio.sleep(0.01)
