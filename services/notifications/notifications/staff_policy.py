"""Which channels a staff notification goes through, and when: at once, after quiet hours,
or in the digest of routine assignments. Pure: no I/O.

- The in-app inbox always gets it, at once.
- Then the staff member's own choice (`staff_preferences.channels`), or else the defaults
  (`staff_channels`: SMS, plus email when the member has an address and SMTP is set up, plus
  a webhook when their department or they have one). A channel chosen explicitly but not
  reachable is still recorded, as failed with the reason, so the gap is visible.
- Routine assignments (`digest_templates`) wait for the next digest time on the digest
  channels, unless the member opted out of the digest or the work is due before the digest.
  Urgent templates (a breach) never wait.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from notifications.domain import QuietHours

PUSH_CHANNELS = ("sms", "email", "webhook")


@dataclass(frozen=True, slots=True)
class StaffReach:
    """How one staff member can be reached, and what they chose."""

    email: str | None = None
    has_webhook: bool = False
    channels: tuple[str, ...] | None = None  # their choice; None: the defaults
    digest: bool | None = None  # their choice; None: the default of each channel


@dataclass(frozen=True, slots=True)
class StaffRules:
    tz: ZoneInfo
    quiet_hours: QuietHours
    default_channels: tuple[str, ...] = PUSH_CHANNELS
    email_enabled: bool = False
    quiet_hours_channels: frozenset[str] = frozenset({"sms"})
    digest_templates: frozenset[str] = frozenset({"staff_task_assigned", "staff_case_assigned"})
    digest_channels: frozenset[str] = frozenset(PUSH_CHANNELS)
    digest_times: tuple[time, ...] = (time(8, 30),)
    digest_times_by_channel: Mapping[str, tuple[time, ...]] = field(default_factory=dict)

    def times_for(self, channel: str) -> tuple[time, ...]:
        return tuple(self.digest_times_by_channel.get(channel) or self.digest_times)


@dataclass(frozen=True, slots=True)
class Delivery:
    channel: str
    send_after: datetime
    deferred_reason: str | None = None  # quiet_hours | digest
    digest_slot: datetime | None = None
    unreachable: str | None = None  # a chosen channel that cannot be used: why


def channels_for(reach: StaffReach, rules: StaffRules) -> list[tuple[str, str | None]]:
    """(channel, why it cannot be used or None), the inbox first."""
    chosen = reach.channels is not None
    wanted = reach.channels if reach.channels is not None else rules.default_channels
    found: list[tuple[str, str | None]] = [("inbox", None)]
    for channel in wanted:
        why: str | None = None
        if channel == "email" and not rules.email_enabled:
            why = "email is not set up (no SMTP server)"
        elif channel == "email" and not reach.email:
            why = "no email address on file"
        elif channel == "webhook" and not reach.has_webhook:
            why = "no webhook for the staff member or their department"
        if why is None or chosen:
            found.append((channel, why))
    return found


def next_digest_slot(after: datetime, times: Sequence[time], tz: ZoneInfo) -> datetime:
    """The first local digest time strictly after `after`."""
    day = after.astimezone(tz).date()
    for offset in (0, 1):
        for at in sorted(times):
            slot = datetime.combine(day + timedelta(days=offset), at, tzinfo=tz)
            if slot > after:
                return slot
    raise ValueError("no digest times configured")


def wants_digest(reach: StaffReach, channel: str, rules: StaffRules) -> bool:
    if reach.digest is not None:
        return reach.digest
    return channel in rules.digest_channels


def plan_deliveries(
    reach: StaffReach,
    *,
    template: str,
    urgent: bool,
    due_at: datetime,
    act_by: datetime | None,
    rules: StaffRules,
) -> list[Delivery]:
    """One delivery per channel for a staff notification due at `due_at`.

    `act_by` is when the staff member must act (a task's due time, a case's promised
    response); a digest later than that would be useless, so the note then goes at once."""
    deliveries: list[Delivery] = []
    for channel, unreachable in channels_for(reach, rules):
        if channel == "inbox" or unreachable:
            deliveries.append(Delivery(channel, due_at, unreachable=unreachable))
            continue
        routine = not urgent and template in rules.digest_templates
        if routine and wants_digest(reach, channel, rules):
            slot = next_digest_slot(due_at, rules.times_for(channel), rules.tz)
            if act_by is None or act_by > slot:
                deliveries.append(Delivery(channel, slot, "digest", digest_slot=slot))
                continue
        send_after = due_at
        if not urgent and channel in rules.quiet_hours_channels:
            send_after = rules.quiet_hours.next_allowed(due_at, rules.tz)
        reason = "quiet_hours" if send_after > due_at else None
        deliveries.append(Delivery(channel, send_after, reason))
    return deliveries


# --- the digest's text ----------------------------------------------------------------

_TAG = re.compile(r"^【[^】]*】")


def digest_context(bodies: Sequence[str], max_items: int) -> dict[str, object]:
    """Template context of a digest: the notes' texts without their 【tag】, at most
    `max_items` of them, and how many more there are."""
    items = [_TAG.sub("", body).strip() for body in bodies]
    return {"count": len(items), "items": items[:max_items], "more": max(0, len(items) - max_items)}


def subject_of(body: str, fallback: str) -> str:
    """An email subject: the note's 【tag】 (e.g. 回访任务), else its first words."""
    match = _TAG.match(body)
    if match:
        return match.group(0).strip("【】")
    return body[:30] or fallback
