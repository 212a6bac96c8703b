"""The unusual-access rule: many distinct patients outside a reader's scope in a short window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hospital_shared.unusual_access import OutOfScopeRead, unusual_readers

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def reads(
    staff: str, patients: int, *, ago: timedelta = timedelta(minutes=5)
) -> list[OutOfScopeRead]:
    return [OutOfScopeRead(staff, f"P{i:04d}", NOW - ago) for i in range(patients)]


def test_more_distinct_patients_than_the_limit_within_the_window_is_unusual() -> None:
    [found] = unusual_readers(reads("S-1", 4), now=NOW, window=HOUR, max_patients=3)
    assert (found.staff_id, found.patients) == ("S-1", 4)


def test_exactly_the_limit_is_not_unusual() -> None:
    assert unusual_readers(reads("S-1", 3), now=NOW, window=HOUR, max_patients=3) == []


def test_the_same_patient_read_many_times_counts_once() -> None:
    again = [OutOfScopeRead("S-1", "P1", NOW - timedelta(minutes=m)) for m in range(50)]
    assert unusual_readers(again, now=NOW, window=HOUR, max_patients=3) == []


def test_reads_before_the_window_or_after_now_do_not_count() -> None:
    old = reads("S-1", 10, ago=HOUR + timedelta(seconds=1))
    future = reads("S-1", 10, ago=-timedelta(minutes=1))
    inside = reads("S-1", 3)
    assert unusual_readers(old + future + inside, now=NOW, window=HOUR, max_patients=3) == []


def test_a_read_at_the_window_edge_counts() -> None:
    edge = reads("S-1", 4, ago=HOUR)
    assert len(unusual_readers(edge, now=NOW, window=HOUR, max_patients=3)) == 1


def test_each_staff_member_is_counted_apart_most_patients_first() -> None:
    found = unusual_readers(
        reads("S-A", 5) + reads("S-B", 9) + reads("S-C", 2), now=NOW, window=HOUR, max_patients=3
    )
    assert [(u.staff_id, u.patients) for u in found] == [("S-B", 9), ("S-A", 5)]


def test_first_and_last_read_times_are_reported() -> None:
    spread = [OutOfScopeRead("S-1", f"P{m}", NOW - timedelta(minutes=m)) for m in (1, 20, 40, 59)]
    [found] = unusual_readers(spread, now=NOW, window=HOUR, max_patients=3)
    assert (found.first_at, found.last_at) == (
        NOW - timedelta(minutes=59),
        NOW - timedelta(minutes=1),
    )


def test_a_read_at_this_very_moment_counts() -> None:
    now = reads("S-1", 4, ago=timedelta(0))
    assert len(unusual_readers(now, now=NOW, window=HOUR, max_patients=3)) == 1


def test_reads_outside_the_window_before_those_inside_do_not_stop_the_count() -> None:
    """The reads come in any order: an old one first is skipped, not the end of the list."""
    mixed = reads("S-1", 2, ago=2 * HOUR) + reads("S-1", 4)
    [found] = unusual_readers(mixed, now=NOW, window=HOUR, max_patients=3)
    assert found.patients == 4
