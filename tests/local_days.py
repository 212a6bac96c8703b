"""The hospital's local days a test's events fall on, and KPI counts summed over them.

A test that backdates part of its input (a visit an hour ago, an enquiry taken 31 minutes
ago) and creates the rest now puts them on two local days when it runs just after midnight
in Asia/Shanghai (16:00-17:00 UTC): fresh-clone CI of 31198a2, run at 16:05 UTC, found three
tests reading one day's report and missing the other day's half. Such a test reads the
report of every day its input spans, for a department only it uses, and adds them up."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from zoneinfo import ZoneInfo

HOSPITAL_TZ = ZoneInfo("Asia/Shanghai")


def local_days(*instants: datetime) -> list[date]:
    """The distinct hospital-local dates of `instants`, earliest first."""
    return sorted({instant.astimezone(HOSPITAL_TZ).date() for instant in instants})


def local_today() -> date:
    """Today in the hospital (not the machine's UTC date)."""
    return datetime.now(HOSPITAL_TZ).date()


def summed(reports: Iterable[dict[str, tuple[int, ...]]]) -> dict[str, tuple[int, ...]]:
    """Counts per key added up element-wise over `reports` (keys of any report kept)."""
    total: dict[str, tuple[int, ...]] = {}
    for report in reports:
        for key, counts in report.items():
            before = total.get(key, (0,) * len(counts))
            total[key] = tuple(a + b for a, b in zip(before, counts, strict=True))
    return total
