"""hl7_messages pieces on their own: times, field values, the ACK."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from registration.hl7_messages import DATA_TYPE_ERROR, Hl7Error, hl7_time

TZ = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026", datetime(2026, 1, 1, tzinfo=TZ)),
        ("20261205", datetime(2026, 12, 5, tzinfo=TZ)),
        ("202612051030", datetime(2026, 12, 5, 10, 30, tzinfo=TZ)),
        ("20261205103000.1234", datetime(2026, 12, 5, 10, 30, 0, 123400, tzinfo=TZ)),
        ("20261205103000+0800", datetime(2026, 12, 5, 10, 30, tzinfo=TZ)),
        ("20261205103000-0500", datetime(2026, 12, 5, 15, 30, tzinfo=UTC)),
        ("20261205+0800", datetime(2026, 12, 5, tzinfo=TZ)),
    ],
)
def test_an_hl7_date_time_is_read_in_its_offset_or_hospital_time(
    value: str, expected: datetime
) -> None:
    read = hl7_time(value, TZ, "EVN^1^2")
    assert read == expected
    assert read is not None and read.utcoffset() == timedelta(hours=8)


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-25 14:00:00",  # was read as 1 January 2026
        "2026-11-25",
        "20261205103000Z",  # was hospital time
        "20261205103000-05",  # was hospital time
        "20261205103000+08",
        "20261205103000.123456+0800",
        "20261205103000 ",
        "202612051",
        "２０２６１２０５",  # full-width digits
    ],
)
def test_a_value_that_is_not_wholly_an_hl7_date_time_is_a_data_type_error(value: str) -> None:
    with pytest.raises(Hl7Error) as raised:
        hl7_time(value, TZ, "AIS^1^4")
    assert (raised.value.ack, raised.value.code) == ("AE", DATA_TYPE_ERROR)
    assert raised.value.location == "AIS^1^4"
