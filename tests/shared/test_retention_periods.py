"""The services' default retention keeps each record as long as DOMAIN.md says, counted in
calendar years: a span of years that holds a 29 February is a day longer than 365 days a
year, and a record deleted on the anniversary's eve is deleted a day early."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from complaints.settings import Settings as ComplaintsSettings
from followup.settings import Settings as FollowupSettings
from hospital_shared.settings import ServiceSettings
from notifications.settings import Settings as NotificationsSettings

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _years_later(at: datetime, years: int) -> datetime:
    """The same local day and time `years` later (a 29 February's anniversary: 1 March)."""
    try:
        return at.replace(year=at.year + years)
    except ValueError:
        return at.replace(year=at.year + years, month=3, day=1)


# Every closing day of four years (a leap year among them), at 10:00 hospital time.
CLOSED = [datetime(2027, 1, 1, 10, tzinfo=SHANGHAI) + timedelta(days=d) for d in range(4 * 366)]


@pytest.mark.parametrize(
    ("service", "days", "years"),
    [
        ("follow-up registers", FollowupSettings().retention_days, 2),
        ("messages and contact data", NotificationsSettings().retention_days, 2),
        ("complaint records", ComplaintsSettings().retention_days, 3),
        ("access records", ServiceSettings().access_records_retention_days, 3),
    ],
)
def test_nothing_is_deleted_before_its_years_are_up(service: str, days: int, years: int) -> None:
    early = [c for c in CLOSED if c + timedelta(days=days) < _years_later(c, years)]
    assert not early, f"{service} closed {early[0]:%Y-%m-%d} would go {days} days later"
