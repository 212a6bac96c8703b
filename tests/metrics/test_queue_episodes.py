"""The queue episode rule: one episode per stretch above the limit, with hysteresis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from metrics.queue_episodes import QueueRules, QueueState, apply_report

RULES = QueueRules(alert_above=8, clear_at=5)
T0 = datetime(2026, 12, 7, 0, 30, tzinfo=UTC)


def run(lengths: list[int], rules: QueueRules = RULES) -> tuple[QueueState, list[str]]:
    """Feed reports a minute apart; what happened, as 'open 9' / 'close 5 max 12 600s'."""
    state, seen = QueueState(), []
    for n, length in enumerate(lengths):
        step = apply_report(state, queue_id="W1", length=length, at=T0 + timedelta(minutes=n), rules=rules)  # fmt: skip
        state = step.state
        if step.opened:
            seen.append(f"open {step.opened.opening_length}")
        if step.closed:
            c = step.closed
            seen.append(f"close {c.closing_length} max {c.episode.max_length} {c.duration_s:.0f}s")
    return state, seen


def test_a_queue_of_nine_reported_fifty_times_opens_one_episode() -> None:
    state, seen = run([9] * 50)
    assert seen == ["open 9"]
    assert state.episode is not None and state.episode.max_length == 9


def test_eight_is_not_above_the_limit() -> None:
    assert run([8, 8, 8])[1] == []


def test_hovering_between_the_thresholds_stays_one_episode() -> None:
    # 9 opens; 7 and 6 are above the clearing threshold (5), so 10 is the same episode.
    assert run([9, 7, 6, 10, 9, 6])[1] == ["open 9"]


def test_the_episode_closes_at_the_clearing_threshold_with_its_longest_length() -> None:
    _, seen = run([4, 9, 12, 7, 5, 9])
    # opened at minute 1, closed at minute 4: 180 s, longest 12; then a new one.
    assert seen == ["open 9", "close 5 max 12 180s", "open 9"]


def test_a_late_report_changes_nothing() -> None:
    state, _ = run([9, 9])
    step = apply_report(state, queue_id="W1", length=2, at=T0 - timedelta(minutes=5), rules=RULES)
    assert step.stale and step.state == state and step.closed is None


def test_a_replayed_opening_names_the_same_episode() -> None:
    a = apply_report(QueueState(), queue_id="W1", length=9, at=T0, rules=RULES)
    b = apply_report(QueueState(), queue_id="W1", length=11, at=T0, rules=RULES)
    assert a.opened and b.opened and a.opened.episode_id == b.opened.episode_id


def test_the_thresholds_are_settings() -> None:
    assert run([4, 4], QueueRules(alert_above=3, clear_at=3))[1] == ["open 4"]
    assert run([9, 8, 7], QueueRules(alert_above=8, clear_at=8))[1] == ["open 9", "close 8 max 9 60s"]  # fmt: skip
    with pytest.raises(ValueError):
        QueueRules(alert_above=5, clear_at=6)


def test_any_length_at_or_below_the_clearing_threshold_closes_the_episode() -> None:
    assert run([9, 0])[1] == ["open 9", "close 0 max 9 60s"]
    assert run([9, 12, 3])[1] == ["open 9", "close 3 max 12 120s"]


def test_a_report_at_the_same_moment_as_the_last_one_is_applied_not_stale() -> None:
    first = apply_report(QueueState(), queue_id="W1", length=9, at=T0, rules=RULES)
    assert not first.stale
    same = apply_report(first.state, queue_id="W1", length=3, at=T0, rules=RULES)
    assert not same.stale and same.closed is not None and same.closed.closing_length == 3


def test_the_default_limit_is_the_manuals_more_than_eight_clearing_at_five() -> None:
    assert QueueRules() == QueueRules(alert_above=8, clear_at=5)
