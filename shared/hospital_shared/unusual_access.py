"""The unusual-access rule (pure): a staff member who read the records of many distinct
patients outside their scope (not assigned to them, not in their department) within a short
window. Its limits are settings (`ACCESS_UNUSUAL_PATIENTS`, `ACCESS_UNUSUAL_WINDOW_S`): a
hospital tunes them to its own desks (a complaint desk reads across departments by design)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class OutOfScopeRead:
    staff_id: str
    patient_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class UnusualReader:
    staff_id: str
    patients: int  # distinct patients read outside their scope within the window
    first_at: datetime
    last_at: datetime


def unusual_readers(
    reads: Iterable[OutOfScopeRead],
    *,
    now: datetime,
    window: timedelta,
    max_patients: int,
) -> list[UnusualReader]:
    """Staff who read more than `max_patients` distinct patients outside their scope in the
    `window` up to `now` (reads after `now` or before the window do not count), most first."""
    since = now - window
    seen: dict[str, dict[str, datetime]] = {}
    for read in reads:
        if not since <= read.at <= now:
            continue
        patients = seen.setdefault(read.staff_id, {})
        first = patients.get(read.patient_id)
        patients[read.patient_id] = read.at if first is None else min(first, read.at)
    found = [
        UnusualReader(staff, len(patients), min(patients.values()), max(patients.values()))
        for staff, patients in seen.items()
        if len(patients) > max_patients
    ]
    return sorted(found, key=lambda r: (-r.patients, r.staff_id))
