"""The duty rota's rules (值班表), pure: who is on duty for a department or one of its windows at
a moment, and what makes a shift valid. A registration queue above its limit is reported to
the person on duty then ("应及时汇报" to the on-duty supervisor, issue 21); the writer falls
back to the department's supervisor when this answers None."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Shift:
    """One entry of the rota: `staff_id` is on duty for the department (or only its window
    `queue_id`) from `starts_at` until just before `ends_at`."""

    department_code: str
    queue_id: str | None
    staff_id: str
    starts_at: datetime
    ends_at: datetime


class InvalidShift(ValueError):
    """A shift the rota refuses (HTTP 422 naming `field`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def check_shift(*, starts_at: datetime, ends_at: datetime, max_length: timedelta) -> None:
    """A shift has time zones (hospital time is local time: a bare time is ambiguous), ends
    after it starts, and is no longer than `max_length` (a typo in a month is caught)."""
    if starts_at.tzinfo is None:
        raise InvalidShift("starts_at", "give the time with its offset, e.g. +08:00")
    if ends_at.tzinfo is None:
        raise InvalidShift("ends_at", "give the time with its offset, e.g. +08:00")
    if ends_at <= starts_at:
        raise InvalidShift("ends_at", "a shift ends after it starts")
    if ends_at - starts_at > max_length:
        hours = max_length / timedelta(hours=1)
        raise InvalidShift("ends_at", f"a shift is at most {hours:g} hours long")


def covers(shift: Shift, *, department_code: str, queue_id: str | None, at: datetime) -> bool:
    """The shift is for this department, for the whole of it or for this window, and runs at
    `at` (from its start, until just before its end: the next shift takes over then)."""
    return (
        shift.department_code == department_code
        and shift.queue_id in (None, queue_id)
        and shift.starts_at <= at < shift.ends_at
    )


def on_duty(
    shifts: Iterable[Shift], *, department_code: str, queue_id: str | None, at: datetime
) -> str | None:
    """Who is on duty: a shift for the window wins over one for the whole department; among
    those, the one that started last (cover entered over a longer shift), then the lowest
    staff id, so the answer never depends on the order the rota is read in."""
    covering = [
        s for s in shifts if covers(s, department_code=department_code, queue_id=queue_id, at=at)
    ]
    if not covering:
        return None
    best = min(covering, key=lambda s: (s.queue_id is None, -s.starts_at.timestamp(), s.staff_id))
    return best.staff_id
