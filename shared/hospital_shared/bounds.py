"""What the platform can store and compute with: the bounds every input is held to.

- Text: PostgreSQL `text` cannot hold NUL, and a lone UTF-16 surrogate (which JSON's `\\ud800`
  escapes can carry) is not Unicode, so UTF-8 cannot encode it for the database or a response.
- Integers: PostgreSQL `bigint` is 64 bits, `integer` 32; asyncpg refuses a larger Python int.
  A number in text (a form field, a header) is ASCII digits: `str.isdigit()` is true of "²",
  which `int()` refuses (a survey form's `s.overall=²` was a 500), and `int()` refuses more
  than 4,300 digits; `whole_number` reads one.
- Dates: fixed years, 1900-01-01 to 2099-12-31 (times: from 1900-01-01T00:00Z to before
  2100-01-01T00:00Z). A discharge dated 9999-12-31 was accepted and then failed every consumer
  that adds days to it (`OverflowError`), losing its follow-up call and SMS. The bounds are
  fixed rather than relative to now so that an event valid today is valid when it is replayed
  or read again from a dead-letter topic, and so that back-loaded history is accepted. They
  leave room for any visit, birth or plan a hospital records, and keep every computed date
  (a due date days or weeks later) far from Python's year 9999.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AwareDatetime, Field

BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
INT_MIN, INT_MAX = -(2**31), 2**31 - 1

EARLIEST_DAY, LATEST_DAY = date(1900, 1, 1), date(2099, 12, 31)
EARLIEST_TIME = datetime(1900, 1, 1, tzinfo=UTC)
END_OF_TIMES = datetime(2100, 1, 1, tzinfo=UTC)  # exclusive

UNSTORABLE_TEXT = "text must not contain NUL or unpaired surrogate characters"
DATE_OUT_OF_RANGE = f"dates must lie between {EARLIEST_DAY} and {LATEST_DAY}"
BIGINT_OUT_OF_RANGE = f"must be between {BIGINT_MIN} and {BIGINT_MAX} (a 64-bit integer)"

# A 32-bit column (`integer`) and a 64-bit one (`bigint`), for request fields stored in them.
Int32 = Annotated[int, Field(ge=INT_MIN, le=INT_MAX)]
BigInt = Annotated[int, Field(ge=BIGINT_MIN, le=BIGINT_MAX)]

# An instant in the event contract and the APIs: with its UTC offset, within the bounds.
EventTime = Annotated[
    AwareDatetime,
    Field(
        ge=EARLIEST_TIME,
        lt=END_OF_TIMES,
        json_schema_extra={
            "formatMinimum": EARLIEST_TIME.isoformat(),
            "formatExclusiveMaximum": END_OF_TIMES.isoformat(),
        },
    ),
]


def storable_text(text: str) -> bool:
    """Whether PostgreSQL can store `text` (no NUL) and UTF-8 can encode it (no surrogate)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def whole_number(text: str, most_digits: int = 18) -> int | None:
    """`text` as a number when it is 1 to `most_digits` ASCII digits (18: within bigint),
    else None."""
    if 0 < len(text) <= most_digits and text.isascii() and text.isdigit():
        return int(text)
    return None


def day_in_range(day: date) -> bool:
    """`day` (or a datetime's date) within the bounds above."""
    return EARLIEST_DAY.year <= day.year <= LATEST_DAY.year
