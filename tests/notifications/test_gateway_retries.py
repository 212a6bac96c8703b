"""What becomes of an SMS the gateway did not take: while the gateway cannot be reached it
waits until the message expires (or, without an expiry, `sms_gateway_wait_h`), where it used
to be failed after 8 attempts, ~10 minutes into an outage (F2); an error the gateway answers
still fails it at the cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notifications.domain import Defer, Stop
from notifications.providers import Outcome, SendResult
from notifications.providers.base import OutgoingSms
from notifications.providers.kannel import KannelProvider, _outcome
from notifications.retries import GATEWAY_RETRY, RetryRules, after_not_taken

DUE = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
RULES = RetryRules(initial_s=5, max_s=300, max_attempts=8, gateway_wait=timedelta(hours=24))


def _after(
    attempts: int,
    *,
    away: bool = True,
    now: datetime,
    expires: datetime | None = None,
    errors: int | None = None,
) -> Defer | Stop:
    """`errors`: the answered errors, this one included; by default every attempt's when the
    gateway answered, none when it was away."""
    answered = errors if errors is not None else (0 if away else attempts)
    return after_not_taken(
        attempts=attempts, answered_errors=answered, gateway_away=away,
        detail="gateway unreachable: ClientConnectorError",
        due_at=DUE, expires_at=expires, now=now, rules=RULES,
    )  # fmt: skip


def test_an_unreachable_gateway_keeps_a_message_waiting_past_the_attempt_cap() -> None:
    expires = DUE + timedelta(hours=24)
    for attempts in (1, 8, 9, 40, 200):
        now = DUE + timedelta(minutes=5 * attempts)
        step = _after(attempts, now=now, expires=expires)
        assert isinstance(step, Defer), attempts
        assert step.reason == GATEWAY_RETRY
        assert now < step.until <= now + timedelta(seconds=300)


def test_the_wait_between_attempts_doubles_up_to_the_cap() -> None:
    waits = [(_after(n, now=DUE).until - DUE).total_seconds() for n in range(1, 10)]  # type: ignore[union-attr]
    assert waits == [5, 10, 20, 40, 80, 160, 300, 300, 300]


def test_a_week_of_outage_waits_like_the_first_hour() -> None:
    """Attempt 1,026 (a week of a 300 s cap) overflowed `2 ** (n - 1)` as a float: an
    OverflowError in the answers' transaction, which then recorded no answer at all."""
    rules = RetryRules(initial_s=5.0, max_s=300.0)  # floats, as the settings give them
    for attempts in (1_025, 1_026, 1_100, 100_000):
        step = after_not_taken(
            attempts=attempts, answered_errors=0, gateway_away=True,
            detail="gateway unreachable", due_at=DUE,
            expires_at=DUE + timedelta(days=9), now=DUE, rules=rules,
        )  # fmt: skip
        assert isinstance(step, Defer) and step.until == DUE + timedelta(seconds=300), attempts


def test_a_message_with_an_expiry_is_left_to_expire_not_failed() -> None:
    """Its `expires_at` ends it (the reconciler expires it, as any pending message)."""
    expires = DUE + timedelta(hours=1)
    step = _after(500, now=expires + timedelta(minutes=1), expires=expires)
    assert isinstance(step, Defer)


def test_without_an_expiry_it_is_failed_once_the_gateway_wait_is_over() -> None:
    waiting = _after(250, now=DUE + timedelta(hours=23, minutes=59))
    assert isinstance(waiting, Defer)
    assert waiting.until == DUE + timedelta(hours=24)  # not tried after the give-up time
    step = _after(251, now=DUE + timedelta(hours=24))
    assert isinstance(step, Stop) and step.status == "failed"
    assert step.reason.startswith("gateway unreachable for 24 h after the message fell due")
    assert "251 attempts" in step.reason and "ClientConnectorError" in step.reason


@pytest.mark.parametrize("attempts", [1, 7])
def test_an_error_the_gateway_answers_is_retried_below_the_cap(attempts: int) -> None:
    step = _after(attempts, away=False, now=DUE, expires=DUE + timedelta(days=2))
    assert isinstance(step, Defer)


def test_an_error_the_gateway_answers_fails_the_message_at_the_cap() -> None:
    step = _after(8, away=False, now=DUE, expires=DUE + timedelta(days=2))
    assert isinstance(step, Stop)
    assert step.reason.startswith("gateway unavailable after 8 answered errors (8 attempts)")


@pytest.mark.parametrize(
    ("status", "body", "outcome", "away"),
    [
        (503, "Temporal failure, try again later.", Outcome.RETRY, True),
        (502, "Bad Gateway", Outcome.RETRY, False),  # a proxy's: may have passed it on
        (504, "Gateway Timeout", Outcome.RETRY, False),
        (403, "Authorization failed for sendsms", Outcome.RETRY, False),
        (500, "Internal error", Outcome.RETRY, False),
        (403, "Not routable. Do not try again.", Outcome.REJECTED, False),
        (202, "0: Accepted for delivery", Outcome.ACCEPTED, False),
    ],
)
def test_kannels_answers_that_say_it_is_away(
    status: int, body: str, outcome: Outcome, away: bool
) -> None:
    result = _outcome(status, body)
    assert (result.outcome, result.gateway_away) == (outcome, away)


async def test_no_connection_to_kannel_is_the_gateway_away() -> None:
    provider = KannelProvider(
        url="http://127.0.0.1:9/cgi-bin/sendsms", username="u", password="p", sender="95000"
    )
    try:
        result = await provider.send(OutgoingSms("m1", "+8613900000001", "t", "gsm7", "http://x"))
    finally:
        await provider.aclose()
    assert (result.outcome, result.gateway_away) == (Outcome.RETRY, True)


async def test_a_resend_during_an_outage_waits_from_when_it_was_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A resend keeps its original's due time (and has no expiry): counted from that, a resend
    made a day after the original fell due was failed at its first unreachable hand-over."""
    from types import SimpleNamespace

    from notifications import dispatcher, sending
    from notifications.settings import Settings

    retried: list[datetime] = []
    failed: list[str] = []

    async def retry_later(
        conn: object, message_id: object, until: datetime, detail: str, **_: object
    ) -> None:
        retried.append(until)

    async def fail_after_send(
        conn: object, message_id: object, reason: str, now: object, **_: object
    ) -> None:
        failed.append(reason)

    monkeypatch.setattr(sending, "retry_later", retry_later)
    monkeypatch.setattr(sending, "fail_after_send", fail_after_send)
    now = DUE + timedelta(hours=30)
    d = dispatcher.Dispatcher(
        SimpleNamespace(),
        SimpleNamespace(),
        Settings(),
        SimpleNamespace(),
        lambda: now,  # type: ignore[arg-type]
    )
    resend = {"id": "m", "attempts": 1, "answered_errors": 0, "due_at": DUE, "expires_at": None,
              "created_at": now - timedelta(minutes=1)}  # fmt: skip
    away = SendResult(Outcome.RETRY, "gateway unreachable: ClientConnectorError", gateway_away=True)
    await d._record_not_accepted(SimpleNamespace(), resend, away, now)  # type: ignore[arg-type]
    assert failed == [] and len(retried) == 1


def test_after_an_outage_the_cap_counts_the_answered_errors_only() -> None:
    """300 hand-overs the gateway was away for, then its first answered error: retried after
    the first step of the backoff, not failed (one counter failed it at once); failed at the
    cap's worth of answered errors."""
    first = _after(301, away=False, errors=1, now=DUE, expires=DUE + timedelta(days=2))
    assert isinstance(first, Defer) and first.until == DUE + timedelta(seconds=5)
    last = _after(308, away=False, errors=8, now=DUE, expires=DUE + timedelta(days=2))
    assert isinstance(last, Stop)
    assert last.reason.startswith("gateway unavailable after 8 answered errors (308 attempts)")
