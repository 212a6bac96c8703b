"""What the dispatcher does with an SMS the gateway certainly did not take (pure, no I/O).

Two kinds of "not taken" (`SendResult.gateway_away`, set by the provider):
- the gateway could not be reached, or said it is unavailable (no connection, a connection
  not made in time, HTTP 503; not a proxy's 502/504, which may have passed it on): an outage. The message stays `pending` and is tried
  again, backoff capped at `send_retry_max_s`, until it expires: at its `expires_at` (the
  reconciler expires it, as any pending message) or, without one, `sms_gateway_wait_h` after
  it fell due, when it is failed. A count of attempts gave up on every message due during an
  outage longer than ~10 minutes (8 attempts, 5 s doubling): complaint acknowledgements and
  discharge notices were failed and stayed so after Kannel came back (F2).
- the gateway answered, with an error that may pass (a 403 of credentials, another 5xx):
  `failed` after `send_max_attempts` such answers. They are counted apart from the attempts
  (`answered_errors`, migration 420): counted together, the attempts spent waiting out an
  outage used the cap up, and the first answered error after it failed the message at once.
Each retry goes back through the claim (dispatcher.py), so opt-outs, a death, quiet hours,
the daily cap and expiry are checked again at every attempt. A refusal (`REJECTED`) and an
answer that may have come after the gateway took the message (`UNKNOWN`) are not retries.

Staff email and webhook notes follow the same rule (staff_dispatcher.py): their server (the
mail relay, a robot's endpoint) away, they wait until their expiry or `staff_channel_wait_h`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from notifications.domain import Defer, Status, Stop, retry_delay


@dataclass(frozen=True, slots=True)
class RetryRules:
    initial_s: float = 5.0
    max_s: float = 300.0
    max_attempts: int = 8  # the gateway answered with an error that may pass
    gateway_wait: timedelta = timedelta(hours=24)  # unreachable, and no `expires_at`


def rules_from(settings: Any, *, wait_h: float) -> RetryRules:
    """The service's retry settings, with `wait_h` for a message without an expiry
    (`sms_gateway_wait_h` for SMS, `staff_channel_wait_h` for staff email and webhooks)."""
    return RetryRules(
        initial_s=settings.send_retry_initial_s,
        max_s=settings.send_retry_max_s,
        max_attempts=settings.send_max_attempts,
        gateway_wait=timedelta(hours=wait_h),
    )


GATEWAY_RETRY = "gateway_retry"  # the deferred reason of a message waiting to be tried again


def gave_up_waiting(wait: timedelta, attempts: int, detail: str, server: str = "gateway") -> str:
    hours = f"{wait.total_seconds() / 3600:g}"
    return (
        f"{server} unreachable for {hours} h after the message fell due"
        f" ({attempts} attempts): {detail}"
    )


def after_not_taken(
    *,
    attempts: int,
    answered_errors: int,
    gateway_away: bool,
    detail: str,
    due_at: datetime,
    expires_at: datetime | None,
    now: datetime,
    rules: RetryRules,
    server: str = "gateway",
) -> Defer | Stop:
    """Try again when (`Defer`), or give up why (`Stop`, failed), after the `attempts`-th
    hand-over was not taken by `server` (named in the reason). `answered_errors`: the errors
    it answered so far, this one included when it answered; only those count towards
    `max_attempts`, so an outage before them does not use the cap up (nor lengthen their
    backoff)."""
    if not gateway_away:
        if answered_errors < rules.max_attempts:
            delay = retry_delay(answered_errors, initial_s=rules.initial_s, max_s=rules.max_s)
            return Defer(now + delay, GATEWAY_RETRY)
        return Stop(
            Status.FAILED,
            f"{server} unavailable after {answered_errors} answered errors"
            f" ({attempts} attempts): {detail}",
        )
    at = now + retry_delay(attempts, initial_s=rules.initial_s, max_s=rules.max_s)
    if expires_at is not None:  # expired by the reconciler (or the claim) when its time passes
        return Defer(at, GATEWAY_RETRY)
    give_up_at = due_at + rules.gateway_wait
    if now >= give_up_at:
        return Stop(Status.FAILED, gave_up_waiting(rules.gateway_wait, attempts, detail, server))
    return Defer(min(at, give_up_at), GATEWAY_RETRY)
