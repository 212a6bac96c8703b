"""The duty rota's rules: who is on duty for a department or window at a moment, and which
shifts the rota refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from notifications.duty_rota import InvalidShift, Shift, check_shift, covers, on_duty

T0 = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)  # 08:00 in the hospital
H = timedelta(hours=1)
DAY = timedelta(hours=24)


def shift(
    staff_id: str, start: int, end: int, *, dept: str = "REG", queue: str | None = None
) -> Shift:
    return Shift(dept, queue, staff_id, T0 + start * H, T0 + end * H)


def who(
    shifts: list[Shift], at_hours: float, *, dept: str = "REG", queue: str | None = "W3"
) -> str | None:
    return on_duty(shifts, department_code=dept, queue_id=queue, at=T0 + at_hours * H)


def test_the_person_on_duty_for_the_department_at_that_moment() -> None:
    rota = [shift("S-DAY", 0, 12), shift("S-NIGHT", 12, 24)]
    assert who(rota, 0) == "S-DAY"  # from the start of the shift
    assert who(rota, 11.99) == "S-DAY"
    assert who(rota, 12) == "S-NIGHT"  # the next shift takes over at the end of the last
    assert who(rota, 23.99) == "S-NIGHT"


def test_nobody_is_on_duty_before_or_after_every_shift_or_in_another_department() -> None:
    rota = [shift("S-DAY", 0, 12), shift("S-ER", 0, 24, dept="ER")]
    assert who(rota, -0.01) is None
    assert who(rota, 12) is None
    assert who([], 1) is None
    assert who(rota, 13, dept="ER") == "S-ER"


def test_a_shift_for_the_window_wins_over_one_for_the_whole_department() -> None:
    rota = [shift("S-WINDOW", 0, 8, queue="W3"), shift("S-DEPT", 0, 12)]
    assert who(rota, 1, queue="W3") == "S-WINDOW"
    assert who(list(reversed(rota)), 1, queue="W3") == "S-WINDOW"
    assert who(rota, 1, queue="W4") == "S-DEPT"  # another window of the department
    assert who(rota, 1, queue=None) == "S-DEPT"
    assert who(rota, 9, queue="W3") == "S-DEPT"  # the window's shift is over


def test_cover_entered_over_a_longer_shift_takes_it_over_then_the_lowest_staff_id() -> None:
    rota = [shift("S-LONG", 0, 24), shift("S-COVER", 4, 6)]
    assert who(rota, 5) == "S-COVER"
    assert who(list(reversed(rota)), 5) == "S-COVER"
    assert who(rota, 6) == "S-LONG"
    tied = [shift("S-B", 0, 12), shift("S-A", 0, 10)]
    assert who(tied, 1) == who(list(reversed(tied)), 1) == "S-A"


def test_covers_reads_department_window_and_time() -> None:
    one = shift("S-1", 0, 2, queue="W3")
    assert covers(one, department_code="REG", queue_id="W3", at=T0)
    assert not covers(one, department_code="REG", queue_id=None, at=T0)
    assert not covers(one, department_code="ER", queue_id="W3", at=T0)
    assert not covers(one, department_code="REG", queue_id="W3", at=T0 + 2 * H)


def test_a_shift_ends_after_it_starts_within_the_longest_length() -> None:
    check_shift(starts_at=T0, ends_at=T0 + DAY, max_length=DAY)  # exactly the longest
    check_shift(starts_at=T0, ends_at=T0 + timedelta(seconds=1), max_length=DAY)
    for end, message in (
        (T0, "ends after"),
        (T0 - H, "ends after"),
        (T0 + DAY + H, "at most 24 hours"),
    ):
        with pytest.raises(InvalidShift, match=message) as refused:
            check_shift(starts_at=T0, ends_at=end, max_length=DAY)
        assert refused.value.field == "ends_at"


def test_a_shift_without_time_zones_is_refused_naming_the_field() -> None:
    bare = datetime(2026, 12, 7, 8, 0)
    with pytest.raises(InvalidShift) as refused:
        check_shift(starts_at=bare, ends_at=T0 + H, max_length=DAY)
    assert refused.value.field == "starts_at"
    with pytest.raises(InvalidShift) as refused:
        check_shift(starts_at=T0, ends_at=bare + DAY, max_length=DAY)
    assert refused.value.field == "ends_at"
    shanghai = timezone(timedelta(hours=8))
    check_shift(starts_at=T0.astimezone(shanghai), ends_at=T0 + H, max_length=DAY)


def test_departments_and_windows_read_from_the_database_are_compared_by_value() -> None:
    """Rows and events give new strings, not interned literals."""
    rota = [shift("S-WINDOW", 0, 8, dept="".join(["R", "EG"]), queue="".join(["W", "3"]))]
    assert who(rota, 1, dept="".join(["RE", "G"]), queue="".join(["W", "3"])) == "S-WINDOW"


def test_the_refusal_says_the_longest_shift_in_hours_as_set() -> None:
    with pytest.raises(InvalidShift, match=r"at most 12\.5 hours"):
        check_shift(starts_at=T0, ends_at=T0 + DAY, max_length=timedelta(hours=12.5))


def test_the_later_start_wins_even_over_a_lower_staff_id() -> None:
    rota = [shift("S-A", 0, 24), shift("S-Z", 4, 6)]
    assert who(rota, 5) == who(list(reversed(rota)), 5) == "S-Z"
