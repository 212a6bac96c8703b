"""The dispatcher's steps overlap: a slow send does not hold back the next claim, a backlog is
claimed as slots free up, answers are recorded as they come, and a stop finishes and records
the sends under way. The database and the gateway are fakes here; the real ones are in
tests/integration/test_notifications_sms.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from notifications.dispatcher import Answer, Claim, Dispatcher
from notifications.providers import Outcome, OutgoingSms, SendResult


class Gateway:
    """Answers a message only when the test releases it."""

    name = "fake"

    def __init__(self) -> None:
        self.release: dict[str, asyncio.Event] = {}
        self.sending: list[str] = []
        self.most_at_once = 0
        self.answered: dict[str, datetime] = {}

    def let_through(self, message_id: str) -> None:
        self.release.setdefault(message_id, asyncio.Event()).set()

    async def send(self, sms: OutgoingSms) -> SendResult:
        self.sending.append(sms.message_id)
        self.most_at_once = max(self.most_at_once, len(self.sending))
        try:
            await self.release.setdefault(sms.message_id, asyncio.Event()).wait()
        finally:
            self.sending.remove(sms.message_id)
        self.answered[sms.message_id] = datetime.now(UTC)
        return SendResult(Outcome.ACCEPTED, f"0: Accepted {sms.message_id}")


class Queue:
    """The messages table: due ids, handed out by claims."""

    def __init__(self) -> None:
        self.due: list[str] = []
        self.claims: list[list[str]] = []
        self.recorded: list[list[str]] = []
        self.answered_at: dict[str, datetime] = {}
        self.record_takes_s = 0.0
        self.stopped: set[str] = set()  # taken by a claim but not sent (opted out, expired...)

    async def claim(self, limit: int = 100) -> Claim:
        taken, self.due = self.due[:limit], self.due[limit:]
        self.claims.append(taken)
        rows: list[Any] = [
            {"id": i, "to_number": "+8613800138000", "body": "b", "encoding": "gsm7",
             "template": "t"}
            for i in taken if i not in self.stopped
        ]  # fmt: skip
        return Claim(rows, len(taken))

    async def record(self, answers: list[Answer]) -> None:
        await asyncio.sleep(self.record_takes_s)
        assert all(a.accepted and a.at is not None for a in answers)
        self.recorded.append([a.row["id"] for a in answers])
        self.answered_at.update({a.row["id"]: a.at for a in answers})


def dispatcher(gateway: Gateway, queue: Queue, *, slots: int = 10) -> Dispatcher:
    settings = SimpleNamespace(
        dispatch_concurrency=slots, dispatch_interval_s=60.0, dispatch_batch_size=100,
        gateway_timeout_s=5.0, public_url="http://x", callback_secret="s",
        restore_gateway_check_s=0.0, sms_dispatch_paused=False,
    )  # fmt: skip
    clock = lambda: datetime.now(UTC)  # noqa: E731
    d = Dispatcher(None, gateway, settings, None, clock)  # type: ignore[arg-type]

    async def reconcile() -> None:
        return None

    d.claim = queue.claim  # type: ignore[method-assign,assignment]
    d._record = queue.record  # type: ignore[method-assign,assignment]
    d.reconcile = reconcile  # type: ignore[method-assign]
    return d


async def until(check: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110 (polls state the fakes change)
            await asyncio.sleep(0.01)


def recorded(queue: Queue) -> list[str]:
    return sorted(i for batch in queue.recorded for i in batch)


async def test_a_slow_send_does_not_hold_back_a_message_that_falls_due_meanwhile() -> None:
    gateway, queue = Gateway(), Queue()
    d = dispatcher(gateway, queue)
    queue.due = ["slow"]
    run = asyncio.create_task(d.run())
    try:
        await until(lambda: gateway.sending == ["slow"])
        queue.due = ["next"]
        d.wake()  # a handler committed a due message (interval is 60 s)
        await until(lambda: "next" in gateway.sending)
        gateway.let_through("next")
        await until(lambda: recorded(queue) == ["next"])  # answered, recorded, slow still out
        assert gateway.sending == ["slow"]
        gateway.let_through("slow")
        await until(lambda: recorded(queue) == ["next", "slow"])
    finally:
        run.cancel()


async def test_a_submission_is_timed_when_the_gateway_answered_not_when_it_was_recorded() -> None:
    gateway, queue = Gateway(), Queue()
    queue.record_takes_s = 0.3  # a slow database: "b" is answered while "a" is being recorded
    d = dispatcher(gateway, queue)
    queue.due = ["a", "b"]
    run = asyncio.create_task(d.run())
    try:
        await until(lambda: len(gateway.sending) == 2)
        gateway.let_through("a")
        await asyncio.sleep(0.05)
        gateway.let_through("b")
        await until(lambda: recorded(queue) == ["a", "b"])
        assert queue.recorded == [["a"], ["b"]]  # b waited for the recorder ...
        for m in ("a", "b"):  # ... but its submission time is when the gateway answered
            assert abs(queue.answered_at[m] - gateway.answered[m]) < timedelta(seconds=0.1)
    finally:
        run.cancel()


async def test_a_backlog_is_claimed_as_slots_free_up_never_more_at_once_than_the_slots() -> None:
    gateway, queue = Gateway(), Queue()
    d = dispatcher(gateway, queue, slots=3)
    queue.due = [f"m{i}" for i in range(8)]
    run = asyncio.create_task(d.run())
    try:
        await until(lambda: len(gateway.sending) == 3)
        assert queue.claims[0] == ["m0", "m1", "m2"]  # a claim takes only the free slots
        for i in range(8):  # no wake-up from a handler: freed slots alone bring the rest
            await until(lambda i=i: f"m{i}" in gateway.sending)
            gateway.let_through(f"m{i}")
        await until(lambda: len(recorded(queue)) == 8)
        assert gateway.most_at_once == 3
        assert recorded(queue) == sorted(f"m{i}" for i in range(8))
    finally:
        run.cancel()


async def test_a_claim_that_sends_fewer_than_it_took_still_claims_the_rest_at_once() -> None:
    """Issue 22 (session 16): a claim whose page held a message it did not send (opted out,
    expired, deferred) counted as "nothing more due", and the next claim waited out
    `dispatch_interval_s`: a backlog went out at 40 SMS per half second."""
    gateway, queue = Gateway(), Queue()
    d = dispatcher(gateway, queue, slots=3)  # the interval is 60 s: waiting it fails the test
    queue.due = [f"m{i}" for i in range(9)]
    queue.stopped = {"m0", "m4"}  # one in the first page, one in the second
    for i in range(9):
        gateway.let_through(f"m{i}")
    run = asyncio.create_task(d.run())
    try:
        await until(lambda: len(recorded(queue)) == 7)
        assert recorded(queue) == sorted(f"m{i}" for i in range(9) if i not in (0, 4))
        assert queue.claims[0] == ["m0", "m1", "m2"]
    finally:
        run.cancel()


async def test_a_stop_finishes_and_records_the_sends_under_way() -> None:
    gateway, queue = Gateway(), Queue()
    d = dispatcher(gateway, queue)
    queue.due = ["a", "b"]
    run = asyncio.create_task(d.run())
    await until(lambda: len(gateway.sending) == 2)
    run.cancel()
    await asyncio.sleep(0.05)
    assert not run.done()  # waiting for the gateway's answers, not dropping them
    gateway.let_through("a")
    gateway.let_through("b")
    async with asyncio.timeout(5):
        await asyncio.gather(run, return_exceptions=True)
    assert recorded(queue) == ["a", "b"]  # nothing left `sending` for the reconciler


async def test_a_failed_record_is_tried_again() -> None:
    gateway, queue = Gateway(), Queue()
    d = dispatcher(gateway, queue)
    failures = [ConnectionError("database away")]
    record = queue.record

    async def flaky(answers: list[Answer]) -> None:
        if failures:
            raise failures.pop()
        await record(answers)

    d._record = flaky  # type: ignore[method-assign,assignment]
    queue.due = ["a"]
    gateway.let_through("a")
    run = asyncio.create_task(d.run())
    try:
        await until(lambda: recorded(queue) == ["a"])
        assert not failures
    finally:
        run.cancel()


async def test_a_backlog_is_claimed_half_a_window_at_a_time_not_per_freed_slot() -> None:
    """Issue 22: claiming for each slot as it freed took one message per claim (a transaction
    of five statements), so a backlog went out at the rate of claims, 5-9 SMS/s under load."""
    gateway, queue = Gateway(), Queue()
    d = dispatcher(gateway, queue, slots=10)
    queue.due = [f"m{i}" for i in range(30)]
    run = asyncio.create_task(d.run())
    try:
        for i in range(30):  # the gateway answers them one by one, in order
            await until(lambda i=i: f"m{i}" in gateway.sending)
            gateway.let_through(f"m{i}")
            await until(lambda i=i: f"m{i}" in recorded(queue))
        await until(lambda: len(recorded(queue)) == 30)
        assert gateway.most_at_once <= 10
        sizes = [len(c) for c in queue.claims if c]
        assert sizes[0] == 10 and all(n >= 5 for n in sizes), sizes
    finally:
        run.cancel()


async def test_the_reconciler_runs_by_the_clock_not_every_twenty_claims() -> None:
    gateway, queue = Gateway(), Queue()
    d = dispatcher(gateway, queue, slots=1)  # one message per claim
    passes: list[datetime] = []

    async def reconcile() -> None:
        passes.append(datetime.now(UTC))

    d.reconcile = reconcile  # type: ignore[method-assign]
    queue.due = [f"m{i}" for i in range(25)]
    for i in range(25):
        gateway.let_through(f"m{i}")
    run = asyncio.create_task(d.run())
    try:
        await until(lambda: len(recorded(queue)) == 25)
        assert len(queue.claims) >= 25
        assert len(passes) == 1  # at the start; the next one 20 intervals (20 min) later
    finally:
        run.cancel()
