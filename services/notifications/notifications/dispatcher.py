"""The dispatcher: hands due SMS to the gateway, safely with several instances.

Each message goes through three steps:
1. claim: in one transaction, lock due `pending` messages (`FOR UPDATE SKIP LOCKED`, so two
   instances never take the same one), re-check them at the moment of sending (opt-out,
   deceased, phone number, quiet hours, daily cap, expiry; `domain.decide`), and mark the
   ones to send `sending`. That commit happens BEFORE any HTTP call.
2. send: hand each `sending` message to the provider (at most `dispatch_concurrency`
   requests at a time, over the provider's one HTTP client).
3. record: `submitted` (accepted), back to `pending` with backoff (gateway certainly did not
   take it: while it is unreachable, until the message expires; retries.py), or `failed`
   (refused, or retry cap reached); the answers that came in meanwhile are recorded together,
   in one transaction.

The steps overlap (`run`): a claim takes as many messages as there are free sending slots,
as soon as a handler commits a due message or slots free up while more are due; a send's
answer goes to the recorder at once. A message that falls due therefore waits for free
slots, not for the previous batch's slowest send and its record (Kannel answers `sendsms`
after bearerbox has queued the message: 40-50 ms here at 10 at once). A claim waits until
at least half the slots are free (`claim_when_free`): a claim is one transaction of five
statements, and claiming for each slot as it freed took one message per claim, so a backlog
went out at the rate of claims, 5-9 SMS/s while the consumer loaded the database (issue 22).
The reconciler runs every `20 * dispatch_interval_s`, not every 20 claims (which, claiming
one message at a time, was every 20 SMS).

Exactly-once: the unique idempotency key gives one message per (source, template,
recipient). The guarantee towards the gateway is AT MOST ONCE per message: a message is
only re-sent when the gateway certainly did not take it (connection refused, HTTP error).
If the process dies between 2 and 3, or the gateway's answer is lost, the message stays
`sending`; after `sending_lease_s` the reconciler settles it from the gateway's own records
(`submitted`, `failed`, or `failed` with `outcome_unknown` when they do not show it) instead
of sending it again (Kannel has no idempotency key to make a second attempt safe; see
reconciler.py). Its delivery receipt, which carries our id, still moves it to `delivered`
if the first attempt went out. After a restore of the database from a backup, the gateway's
records are asked before each hand-over for a while (restore_check.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import asyncpg
import structlog
from prometheus_client import Counter, Gauge, Histogram

from hospital_shared.background import listen
from hospital_shared.failpoints import failpoint
from notifications import domain, reconciler, restore_check, retries, sending, survey_store
from notifications.domain import Defer, DueMessage, Send, SendingRules, Status, Stop
from notifications.handlers import Clock
from notifications.lifecycle import publish_finished, publish_status, publish_statuses
from notifications.providers import Outcome, OutgoingSms, SendResult, SmsProvider
from notifications.survey_links import hidden_links, reveal, reveal_rotated
from notifications.survey_policy import SURVEY_TEMPLATES

log = structlog.get_logger(__name__)

HANDED = Counter(
    "notifications_sms_handed_total", "SMS hand-overs to the gateway", ["template", "outcome"]
)
SUBMIT_LATENCY = Histogram(
    "notifications_event_to_submitted_seconds",
    "From the message's creation to the gateway's acceptance (when it was due at once)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)

PAUSED = Gauge(
    "notifications_sms_dispatch_paused",
    "1 while the SMS dispatcher holds every message (NOTIFICATIONS_SMS_DISPATCH_PAUSED)",
)

FAILPOINT_AFTER_ACCEPT = "notifications.after_gateway_accept"


def start_handed_series(templates: Iterable[str]) -> None:
    """Every (template, outcome) hand-over series at 0 from the start: Prometheus's
    increase() cannot count a series' first sample, so the first refusal of a template would
    not count towards `SmsGatewayFailing` nor show on the gateways dashboard (issue 20)."""
    for template in templates:
        for outcome in Outcome:
            HANDED.labels(template, outcome.value)


def failpoint_after_accept_to(number: str) -> str:
    """The same failpoint for one recipient only (`...after_gateway_accept.to.+8613900000001`):
    a test kills the service on its own message, not on one that an earlier test left due."""
    return f"{FAILPOINT_AFTER_ACCEPT}.to.{number}"


def claim_when_free(slots: int, batch_size: int) -> int:
    """Free slots a claim waits for while sends are under way: half the window (a claim per
    freed slot claimed one message at a time, issue 22). With none under way, one is enough."""
    return max(1, min(slots, batch_size) // 2)


def receipt_signature(secret: str, message_id: str) -> str:
    return hmac.new(secret.encode(), message_id.encode(), hashlib.sha256).hexdigest()[:32]


class Dispatcher:
    def __init__(
        self,
        pool: asyncpg.Pool,
        provider: SmsProvider,
        settings: Any,
        rules: SendingRules,
        clock: Clock,
    ) -> None:
        self.pool = pool
        self.provider = provider
        self.settings = settings
        self.rules = rules
        self.clock = clock
        self.healthy = True
        self.restore_check = restore_check.RestoreCheck(settings.restore_gateway_check_s)
        self._wake = asyncio.Event()
        self.also_wake: list[Callable[[], None]] = []  # other loops woken by the same news
        self._reconciled_at: float | None = None  # time.monotonic() of the last pass

    # --- the steps ---------------------------------------------------------------------

    async def claim(self, limit: int) -> Claim:
        """Up to `limit` due messages taken: those to hand to the gateway now `sending`
        (committed), the others deferred or finished."""
        now = self.clock()
        sends: list[tuple[Any, str]] = []
        defers: list[tuple[Any, Defer]] = []
        stops: list[tuple[Any, Status, str]] = []
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await sending.lock_due(conn, now, limit)
            locked = len(rows)
            if rows and await self.restore_check.active(conn, now):
                rows = await restore_check.settle_already_sent(conn, self.provider, rows, now)
            if not rows:
                return Claim([], locked)
            patients = sorted({r["patient_id"] for r in rows if r["audience"] == "patient"})
            # the daily cap counts across instances: one at a time per patient
            await sending.lock_caps(conn, patients)
            handed = await sending.handed_today(conn, patients, now, self.rules.tz)
            for row in rows:
                due = DueMessage(
                    audience=row["audience"],
                    urgent=row["urgent"],
                    expires_at=row["expires_at"],
                    phone=row["phone"],
                    opted_out=row["opted_out"],
                    deceased=row["deceased"],
                    send_to_deceased=row["send_to_deceased"],
                    handed_today=handed.get(row["patient_id"], 0),
                    staff_inactive=row["staff_inactive"],
                    segments=row["segments"],
                )
                decision = domain.decide(due, now, self.rules)
                if isinstance(decision, Send):
                    sends.append((row["id"], decision.to_number))
                    if row["audience"] == "patient" and not row["urgent"]:
                        handed[row["patient_id"]] = handed.get(row["patient_id"], 0) + 1
                elif isinstance(decision, Defer):
                    defers.append((row["id"], decision))
                elif isinstance(decision, Stop):
                    stops.append((row["id"], decision.status, decision.reason))
            await publish_finished(conn, await sending.finish_many(conn, stops, now), now)
            await sending.defer_many(conn, defers)
            # committed with the transaction, BEFORE any HTTP call (at most once)
            return Claim(await sending.mark_sending_many(conn, sends, now), locked)

    async def _send(self, row: asyncpg.Record) -> SendResult:
        message_id = str(row["id"])
        receipt_url = (
            f"{self.settings.public_url}/v1/sms/dlr?id={message_id}"
            f"&sig={receipt_signature(self.settings.callback_secret, message_id)}"
            "&status=%d&ts=%T&reply=%A"
        )
        body = row["body"]
        if row["template"] in SURVEY_TEMPLATES:  # the link's token, never stored
            body = await self._revealed(body)
        sms = OutgoingSms(message_id, row["to_number"], body, row["encoding"], receipt_url)
        try:
            result = await self.provider.send(sms)
        except Exception as exc:  # a provider bug: treat as unknown, never resend blindly
            result = SendResult(Outcome.UNKNOWN, f"provider error: {type(exc).__name__}")
        HANDED.labels(row["template"], result.outcome.value).inc()
        if result.outcome == Outcome.ACCEPTED:
            failpoint(FAILPOINT_AFTER_ACCEPT)
            failpoint(failpoint_after_accept_to(row["to_number"]))
        return result

    async def _revealed(self, body: str) -> str:
        """The survey SMS's text with its link's token; after a rotation, the token its link
        was made with (a reminder sent days later, an invitation held by quiet hours)."""
        secrets = self.settings.survey_secrets
        if len(secrets) == 1:
            return reveal(body, secrets[0])
        async with self.pool.acquire() as conn:
            stored = await survey_store.token_hashes(conn, hidden_links(body))
        return reveal_rotated(body, secrets, stored)

    async def _record(self, answers: list[Answer]) -> None:
        """Record what the gateway said about these messages, in one transaction. Should it
        fail, the messages stay `sending` and the reconciler settles them as outcome unknown."""
        now = self.clock()
        accepted = [(a.row["id"], a.result, a.at) for a in answers if a.accepted]
        async with self.pool.acquire() as conn, conn.transaction():
            # in id order, as the receipts' writes lock them (receipts.py): no deadlock
            await sending.lock_in_order(conn, [a.row["id"] for a in answers])
            submitted = await sending.accepted_many(conn, accepted, self.provider.name)
            await publish_statuses(conn, [(r, "submitted", None) for r in submitted], now=now)
            for done in submitted:
                if done["due_at"] <= done["created_at"] + timedelta(seconds=1):
                    SUBMIT_LATENCY.observe(
                        (done["submitted_at"] - done["created_at"]).total_seconds()
                    )
            for a in answers:
                if not a.accepted:
                    await self._record_not_accepted(conn, a.row, a.result, now)

    async def _record_not_accepted(
        self, conn: asyncpg.Connection, row: asyncpg.Record, result: SendResult, now: Any
    ) -> None:
        if result.outcome == Outcome.UNKNOWN:
            log.warning("gateway outcome unknown; left for the reconciler", detail=result.detail)
            await sending.note_error(conn, row["id"], result.detail)
            return
        reason = result.detail
        answered = not result.gateway_away  # an error the gateway answered (retries.py)
        if result.outcome == Outcome.RETRY:
            rules = retries.rules_from(self.settings, wait_h=self.settings.sms_gateway_wait_h)
            step = retries.after_not_taken(
                attempts=row["attempts"], gateway_away=result.gateway_away,
                answered_errors=row["answered_errors"] + answered,
                # a resend keeps its original's due time: it waits from when it was made
                detail=result.detail, due_at=max(row["due_at"], row["created_at"]),
                expires_at=row["expires_at"],
                now=now, rules=rules,
            )  # fmt: skip
            if isinstance(step, Defer):
                await sending.retry_later(
                    conn, row["id"], step.until, result.detail, answered=answered
                )
                return
            reason = step.reason
        done = await sending.fail_after_send(conn, row["id"], reason, now, answered=answered)
        if done is not None:
            await publish_status(conn, done, "failed", now=now, reason=reason)

    # --- the reconciler ----------------------------------------------------------------

    async def reconcile(self) -> None:
        """Settle messages a crash left `sending`, expire what waited too long (reconciler.py)."""
        await reconciler.reconcile(self.pool, self.provider, self.settings, self.clock())
        async with self.pool.acquire() as conn:
            restored = await self.restore_check.active(conn, self.clock())
        if restored:
            await restore_check.settle_finished_unhanded(
                self.pool, self.provider, self.restore_check, self.clock()
            )

    # --- the loop ----------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()
        for wake_other in self.also_wake:
            wake_other()

    async def run(self) -> None:
        """Claim, send and record, overlapped (module docstring). On cancellation the sends
        under way are finished and recorded first (at most the gateway timeout), so a restart
        leaves no message `sending` for the reconciler to settle as outcome unknown.
        Paused (`sms_dispatch_paused`), it claims nothing and only passes its news on."""
        if self.settings.sms_dispatch_paused:
            await self._paused()
        slots = self.settings.dispatch_concurrency
        interval = self.settings.dispatch_interval_s
        wait_for_free = claim_when_free(slots, self.settings.dispatch_batch_size)
        sends: set[asyncio.Task[None]] = set()
        slot_freed = asyncio.Event()
        answers = _Answers()
        recorder = asyncio.create_task(self._record_answers(answers), name="sms-recorder")
        backoff = interval
        more_due = True  # look at once when starting

        def sent(task: asyncio.Task[None]) -> None:
            sends.discard(task)
            slot_freed.set()

        try:
            while True:
                if sends and slots - len(sends) < wait_for_free:
                    slot_freed.clear()
                    await slot_freed.wait()  # news meanwhile stays in self._wake
                    continue
                if not more_due:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), interval)
                self._wake.clear()  # before the claim: news that comes during it is not lost
                limit = min(slots - len(sends), self.settings.dispatch_batch_size)
                claimed, backoff = await self._claim_or_back_off(limit, backoff)
                if claimed is None:
                    more_due = True
                    continue
                for row in claimed.sends:
                    task = asyncio.create_task(self._send_and_answer(row, answers))
                    sends.add(task)
                    task.add_done_callback(sent)
                # A full claim: more may be due, claim again as soon as slots are free. Full
                # by what it took, not by what it sends: a claim whose page held one opted-out
                # or expired message waited `dispatch_interval_s` before the next, so a backlog
                # went out at 40 SMS per 0.5 s (issue 22, docs/bench.md session 16).
                more_due = claimed.locked == limit
        finally:
            if sends:
                await asyncio.wait(sends, timeout=self.settings.gateway_timeout_s + 1)
            answers.closing = True
            answers.ready.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(recorder, timeout=10)

    async def _claim_or_back_off(self, limit: int, backoff: float) -> tuple[Claim | None, float]:
        """The next claim (the reconciler's turn first, now and then) and the backoff after
        it; while the database is away, None after waiting `backoff`, and the next (doubled,
        at most 10 s): the rows stay as they are."""
        try:
            await self._reconcile_now_and_then()
            claimed = await self.claim(limit)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.healthy = False
            log.warning("dispatcher claim failed, will retry", error=repr(exc), backoff_s=backoff)
            await asyncio.sleep(backoff)
            return None, min(backoff * 2, 10.0)
        self.healthy = True
        return claimed, self.settings.dispatch_interval_s

    async def _paused(self) -> None:
        """Hold every SMS until the service runs without the setting; the news of new
        messages still wakes the loops that share it (`also_wake`: the staff dispatcher, by
        `wake` itself). The reconciler's gauges are still counted at its pace, nothing settled
        or expired (reconciler.count): the reconciler never ran while paused, so they were
        never set, and staff notes waiting for their server while SMS were held did not count."""
        PAUSED.set(1)
        log.warning("SMS dispatch paused: no SMS is handed over, deferred or expired")
        while True:
            await self._count_while_paused()
            await asyncio.sleep(20 * self.settings.dispatch_interval_s)

    async def _count_while_paused(self) -> None:
        """The staff notes a crash left `sending` settled, then one count of the gauges; while
        the database is away, the next at the next turn."""
        try:
            await reconciler.settle_staff_notes(self.pool, self.settings, self.clock())
            await reconciler.count(self.pool, self.settings, self.clock(), sms_paused=True)
        except Exception as exc:
            self.healthy = False
            log.warning("counting the messages while paused failed, will retry", error=repr(exc))
            return
        self.healthy = True

    async def _reconcile_now_and_then(self) -> None:
        """The reconciler at the start, then every `20 * dispatch_interval_s` (module
        docstring): at each claim it would slow the hand-over of a backlog."""
        now = time.monotonic()
        if self._reconciled_at is None or now - self._reconciled_at >= (
            20 * self.settings.dispatch_interval_s
        ):
            self._reconciled_at = now
            await self.reconcile()

    async def _send_and_answer(self, row: asyncpg.Record, answers: _Answers) -> None:
        result = await self._send(row)
        answers.add(Answer(row, result, self.clock()))

    async def _record_answers(self, answers: _Answers) -> None:
        """Record the gateway's answers as they come: those that came in while the previous
        record ran go together. A failed record is tried again (the database may be back);
        answers still unrecorded when stopping stay `sending` for the reconciler."""
        backoff = 0.5
        while True:
            await answers.ready.wait()
            batch = answers.take()
            if batch:
                try:
                    await self._record(batch)
                    backoff = 0.5
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("recording the gateway's answers failed, will retry",
                                error=repr(exc), messages=len(batch), backoff_s=backoff)  # fmt: skip
                    answers.put_back(batch)
                    if answers.closing:
                        return
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
            if answers.closing and not answers.pending:
                return

    async def listen(self) -> None:
        """Wake up as soon as a handler commits a message that is due."""
        await listen(self.pool, "notifications_dispatch", self.wake)


class Claim(NamedTuple):
    """What one claim took: `sends`, now `sending`, to hand to the gateway; `locked`, the due
    messages it took in all (those sent, deferred and finished)."""

    sends: list[asyncpg.Record]
    locked: int


class Answer(NamedTuple):
    """The gateway's answer about one message, and when it came."""

    row: asyncpg.Record
    result: SendResult
    at: datetime

    @property
    def accepted(self) -> bool:
        return self.result.outcome == Outcome.ACCEPTED


class _Answers:
    """The gateway's answers waiting to be recorded."""

    def __init__(self) -> None:
        self.pending: list[Answer] = []
        self.ready = asyncio.Event()
        self.closing = False

    def add(self, answer: Answer) -> None:
        self.pending.append(answer)
        self.ready.set()

    def take(self) -> list[Answer]:
        batch, self.pending = self.pending, []
        self.ready.clear()
        return batch

    def put_back(self, batch: list[Answer]) -> None:
        self.pending[:0] = batch
        self.ready.set()


__all__ = [
    "FAILPOINT_AFTER_ACCEPT",
    "Answer",
    "Claim",
    "Dispatcher",
    "Status",
    "failpoint_after_accept_to",
    "receipt_signature",
]
