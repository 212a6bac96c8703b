"""Pure rules of the notifications service: quiet hours, phone numbers, the message state
machine and delivery receipts, and what the dispatcher does with a due message. No I/O."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import phonenumbers

from hospital_shared.phones import everyday_mobile


class Status(StrEnum):
    PENDING = "pending"  # waiting for its time (possibly deferred)
    SENDING = "sending"  # claimed and being handed to the gateway right now
    SUBMITTED = "submitted"  # the gateway accepted it
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"  # its reason went away (cancellation, no-show, death)
    SUPPRESSED = "suppressed"  # must not go: opt-out, deceased patient, no contact


FINAL = frozenset({Status.DELIVERED, Status.EXPIRED, Status.WITHDRAWN, Status.SUPPRESSED})

# The reason recorded when the service stopped between handing a message to the gateway and
# recording the answer. Kannel has no idempotency key, so such a message is never re-sent
# automatically; a delivery receipt arriving later still moves it on.
OUTCOME_UNKNOWN = "outcome_unknown"
# ... unless the gateway's own records say what became of it (notifications/reconciler.py)
GATEWAY_LOG_SENT = "found sent in the gateway's log"  # now `submitted`, waits for its receipt
GATEWAY_LOG_REFUSED = "gateway_refused: found refused in the gateway's log"  # `failed`


# --- quiet hours ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local hours in which non-urgent messages wait: [start, end), wrapping midnight."""

    start: time = time(21, 0)
    end: time = time(8, 0)

    def contains(self, local: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_allowed(self, at: datetime, tz: ZoneInfo) -> datetime:
        """`at` itself when outside quiet hours, else the end of the quiet period (aware)."""
        local = at.astimezone(tz)
        if not self.contains(local.time()):
            return at
        day = local.date()
        if self.start > self.end and local.time() >= self.start:
            day += timedelta(days=1)
        return datetime.combine(day, self.end, tzinfo=tz)


def local_day_bounds(at: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The hospital-local day containing `at`, as [start, end) aware datetimes."""
    day: date = at.astimezone(tz).date()
    start = datetime.combine(day, time(0), tzinfo=tz)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)


# --- phone numbers -------------------------------------------------------------------


class InvalidPhone(ValueError):
    pass


def normalise_phone(raw: str | None, region: str = "CN") -> str:
    """E.164 form of `raw`; raise InvalidPhone saying why it cannot be texted."""
    if raw is None or not raw.strip():
        raise InvalidPhone("no phone number on file")
    # the everyday numbers (E.164 from registration, or bare national) without a full parse:
    # the same answer (tests/notifications/test_phones.py), 2 against 54 us
    if (e164 := everyday_mobile(raw, region)) is not None:
        return e164
    return parsed_phone(raw, region)


def parsed_phone(raw: str, region: str) -> str:
    """`normalise_phone` by a full parse."""
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"not a phone number ({exc.error_type})") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone("not a valid phone number")
    kind = phonenumbers.number_type(parsed)
    if kind not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise InvalidPhone("not a mobile number (cannot receive SMS)")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


# --- who may call back ---------------------------------------------------------------

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=8)
def ip_networks(entries: tuple[str, ...]) -> tuple[IpNetwork, ...]:
    """Addresses and CIDR ranges ("127.0.0.1", "172.28.0.8/29", "::1") as networks; a
    ValueError names an entry that is neither."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or CIDR range") from None
    return tuple(networks)


def caller_allowed(host: str, allowed: Iterable[str]) -> bool:
    """Whether a caller at `host` is in `allowed` (addresses or CIDR ranges). An IPv4 caller
    seen on an IPv6 socket (::ffff:a.b.c.d) counts as its IPv4 address."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in ip_networks(tuple(allowed)))


# --- delivery receipts ---------------------------------------------------------------

# Kannel DLR types: 1 delivered, 2 undelivered, 4 queued on the SMSC, 8 SMSC ack, 16 rejected.
_RECEIPT_STATUS = {1: Status.DELIVERED, 2: Status.FAILED, 4: Status.SUBMITTED, 8: Status.SUBMITTED}
_RECEIPT_STATUS[16] = Status.FAILED
_RANK = {Status.SENDING: 0, Status.SUBMITTED: 1, Status.FAILED: 2, Status.DELIVERED: 3}


def receipt_status(dlr_type: int) -> Status | None:
    return _RECEIPT_STATUS.get(dlr_type)


def apply_receipt(current: Status, reason: str | None, receipt: Status) -> Status | None:
    """The status a receipt moves a message to, or None when it changes nothing.

    Receipts may arrive out of order (Kannel often sends "delivered" before "SMSC ack"), so a
    message only moves forward; "delivered" is final. A message failed only because the
    service lost track of it (`outcome_unknown`) is corrected by any receipt.
    """
    if current == Status.FAILED and reason != OUTCOME_UNKNOWN:
        return None
    if current == Status.FAILED:
        return receipt
    if current not in _RANK or receipt == current:
        return None
    return receipt if _RANK[receipt] > _RANK[current] else None


# --- resending ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResendRefusal:
    """Why a message may not be resent; `overridable`: a supervisor may still, explicitly."""

    why: str
    overridable: bool = False


def resend_refusal(
    status: str, reason: str | None, submitted_at: datetime | None, channel: str
) -> ResendRefusal | None:
    """Whether a message may be resent. Only what certainly did not reach the patient goes
    again at a click: never a message the gateway accepted or may have accepted (a second
    copy of a reminder or a complaint answer is what at-most-once is there to prevent)."""
    if channel == "inbox" or status not in (Status.FAILED, Status.EXPIRED):
        return ResendRefusal(f"only failed or expired messages can be resent, not {status}")
    if status == Status.FAILED and reason == OUTCOME_UNKNOWN:
        return ResendRefusal(
            "the gateway may have sent this message: the service stopped while handing it "
            "over and the gateway's records do not show what became of it, so a resend may "
            "reach the patient twice",
            overridable=True,
        )
    if status == Status.EXPIRED and submitted_at is not None:
        return ResendRefusal(
            "the gateway accepted this message; only its delivery receipt is missing, so the "
            "patient has probably received it and a resend would reach them twice",
            overridable=True,
        )
    return None


# --- retries -------------------------------------------------------------------------


def retry_delay(attempt: int, *, initial_s: float, max_s: float) -> timedelta:
    """Exponential backoff after the `attempt`-th failed hand-over (1-based). The exponent
    is bounded: a message waiting out a long outage reaches attempt 1,026 in about a week,
    where 2 ** 1025 overflows a float (and the answers' transaction with it)."""
    return timedelta(seconds=min(max_s, initial_s * 2.0 ** min(max(0, attempt - 1), 64)))


# --- the dispatcher's decision -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DueMessage:
    audience: str
    urgent: bool
    expires_at: datetime | None
    phone: str | None
    opted_out: bool
    deceased: bool
    send_to_deceased: bool
    handed_today: int  # SMS already handed to the gateway for this patient today
    staff_inactive: bool = False  # a staff message whose recipient left the roster
    segments: int = 1


STAFF_INACTIVE = "staff member no longer active"


@dataclass(frozen=True, slots=True)
class Send:
    to_number: str


@dataclass(frozen=True, slots=True)
class Defer:
    until: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Stop:
    status: Status
    reason: str


Decision = Send | Defer | Stop


@dataclass(frozen=True, slots=True)
class SendingRules:
    tz: ZoneInfo
    quiet_hours: QuietHours
    daily_cap: int
    region: str = "CN"
    # The gateway's longest SMS (Kannel's `max-messages`): it sends the first this many parts
    # of a longer one, says it was accepted, and later that it was delivered.
    max_segments: int = 10


def too_long(segments: int, max_segments: int) -> str:
    """The reason of an SMS the gateway would cut (never handed to it: the patient or staff
    member would get its beginning only, without its link or its last lines)."""
    return f"too_long: {segments} segments, the gateway sends at most {max_segments}"


def decide(msg: DueMessage, now: datetime, rules: SendingRules) -> Decision:
    """What to do with a message whose time has come, checked at the moment of sending."""
    if msg.expires_at is not None and now >= msg.expires_at:
        return Stop(Status.EXPIRED, "its time passed before it could be sent")
    if msg.opted_out:
        return Stop(Status.SUPPRESSED, "opted_out")
    if msg.staff_inactive:  # as for email and webhooks (staff_dispatcher)
        return Stop(Status.SUPPRESSED, STAFF_INACTIVE)
    if msg.deceased and not msg.send_to_deceased:
        return Stop(Status.SUPPRESSED, "patient_deceased")
    if msg.segments > rules.max_segments:
        return Stop(Status.FAILED, too_long(msg.segments, rules.max_segments))
    try:
        number = normalise_phone(msg.phone, rules.region)
    except InvalidPhone as exc:
        return Stop(Status.FAILED, f"invalid_phone: {exc}")
    if not msg.urgent:
        allowed = rules.quiet_hours.next_allowed(now, rules.tz)
        if allowed > now:
            return Defer(allowed, "quiet_hours")
        if msg.audience == "patient" and msg.handed_today >= rules.daily_cap:
            _, day_end = local_day_bounds(now, rules.tz)
            return Defer(rules.quiet_hours.next_allowed(day_end, rules.tz), "daily_cap")
    return Send(number)
