"""Enquiries (咨询) under first-contact responsibility (首问负责制), as pure rules.

Whoever takes an enquiry owns it until it is answered, handed over (with a recorded reason) or
turned into a complaint. Its one time limit depends on where it was taken and whether it is
complex (DOMAIN.md: answered within 24 h, complex ones within 48 h; on site, ordinary requests
within 30 minutes, complex ones within 2 hours). The limits are data (`EnquiryLimit`), built
from settings; the timer warns the supervisor at 80% and escalates at 100%, as for complaints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from complaints.access import STAFF_ROLES, Actor
from hospital_shared.time_limits import met_by, past_due, past_warning
from hospital_shared.vocabulary import EnquiryChannel as EnquiryChannel
from hospital_shared.vocabulary import EnquiryStatus as EnquiryStatus
from hospital_shared.vocabulary import LimitLevel

# What each step may start from: every step needs an open enquiry.
STEPS: dict[str, frozenset[EnquiryStatus]] = {
    "answer": frozenset({EnquiryStatus.OPEN}),
    "hand_over": frozenset({EnquiryStatus.OPEN}),
    "convert": frozenset({EnquiryStatus.OPEN}),
}


class EnquiryRefused(Exception):
    """The step does not fit the enquiry's state (HTTP 409)."""


class NotOwner(Exception):
    """Only the owner (or a supervisor of the department) may move the enquiry (HTTP 403)."""


@dataclass(frozen=True, slots=True)
class EnquiryLimit:
    """How long an enquiry taken on `channels` may stay unanswered."""

    name: str
    channels: frozenset[EnquiryChannel]
    complex_: bool
    minutes: float


@dataclass(frozen=True, slots=True)
class EnquiryDeadline:
    name: str
    starts_at: datetime
    due_at: datetime
    warn_at: datetime


REMOTE = frozenset({EnquiryChannel.PHONE, EnquiryChannel.ONLINE})
ON_SITE = frozenset({EnquiryChannel.ONSITE})


def default_limits(
    *,
    answer_hours: float = 24,
    complex_answer_hours: float = 48,
    onsite_minutes: float = 30,
    onsite_complex_minutes: float = 120,
) -> tuple[EnquiryLimit, ...]:
    """The manuals' limits; every amount is a setting (`COMPLAINTS_ENQUIRY_*`)."""
    return (
        EnquiryLimit("answer", REMOTE, False, answer_hours * 60),
        EnquiryLimit("complex_answer", REMOTE, True, complex_answer_hours * 60),
        EnquiryLimit("onsite_answer", ON_SITE, False, onsite_minutes),
        EnquiryLimit("onsite_complex_answer", ON_SITE, True, onsite_complex_minutes),
    )


def limit_for(
    limits: Iterable[EnquiryLimit], channel: EnquiryChannel, *, complex_: bool
) -> EnquiryLimit:
    for limit in limits:
        if channel in limit.channels and limit.complex_ == complex_:
            return limit
    raise LookupError(f"no enquiry limit for {channel.value} (complex={complex_})")


def deadline_for(
    limit: EnquiryLimit, start: datetime, *, warning_fraction: float
) -> EnquiryDeadline:
    """Wall-clock limit from `start`; the warning at `warning_fraction` of its span."""
    span = timedelta(minutes=limit.minutes)
    return EnquiryDeadline(limit.name, start, start + span, start + span * warning_fraction)


def check_step(step: str, status: EnquiryStatus) -> None:
    if status not in STEPS[step]:
        raise EnquiryRefused(f"an enquiry that is {status.value} cannot {step.replace('_', ' ')}")


def answered_in_time(due_at: datetime, answered_at: datetime) -> bool:
    return met_by(due_at, answered_at)


def alert_levels(
    *, warn_at: datetime, due_at: datetime, warned: bool, breached: bool, now: datetime
) -> list[str]:
    """The alerts an open enquiry's deadline still owes at `now`."""
    levels = []
    if not warned and past_warning(warn_at, now):
        levels.append(LimitLevel.WARNING.value)
    if not breached and past_due(due_at, now):
        levels.append(LimitLevel.BREACH.value)
    return levels


# --- access: like complaint cases ---------------------------------------------------------


def can_view_enquiry(actor: Actor, enquiry: Mapping[str, Any]) -> bool:
    """Agents and doctors see the enquiries they took or own; supervisors their department's
    (asked about or owning) and those they supervise; operations (admin) all."""
    if actor.role == "admin":
        return True
    if actor.role not in STAFF_ROLES:
        return False
    if actor.id in (enquiry["owner_id"], enquiry["taken_by"], enquiry["supervisor_id"]):
        return True
    return (
        actor.role == "supervisor"
        and actor.department is not None
        and actor.department in (enquiry["department_code"], enquiry["owner_department"])
    )


def may_own_enquiries(role: str) -> bool:
    """Whether a member of staff with `role` may own (and so answer) an enquiry: the one rule
    for who takes one, who works one and whom one is handed over to."""
    return role in STAFF_ROLES


def can_work_enquiry(actor: Actor, enquiry: Mapping[str, Any]) -> bool:
    """Move it on: its owner, or a supervisor who may see it. The one who took it and handed
    it over still sees it, but no longer answers for it."""
    if actor.role == "supervisor":
        return can_view_enquiry(actor, enquiry)
    return may_own_enquiries(actor.role) and actor.id == enquiry["owner_id"]
