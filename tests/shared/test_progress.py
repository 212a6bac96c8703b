"""When a consumer counts as stalled: records wait for it and it commits nothing for
`stall_after_s`; an idle consumer, or a busy one that commits, never is."""

from __future__ import annotations

from hospital_shared.progress import ProgressWatch


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def watch() -> tuple[ProgressWatch, Clock]:
    clock = Clock()
    return ProgressWatch(stall_after_s=60, clock=clock), clock


def test_an_idle_consumer_is_never_stalled() -> None:
    w, clock = watch()
    w.lag_measured(0)
    clock.now += 3600
    assert not w.stalled and w.seconds_without_progress() == 0


def test_a_batch_retried_for_a_minute_is_a_stall_even_with_no_lag_left() -> None:
    """The stuck batch's records were fetched, so the broker shows no lag: the batch in hand
    is what waits."""
    w, clock = watch()
    w.batch_started(1)
    w.lag_measured(0)
    clock.now += 59
    assert not w.stalled
    clock.now += 2
    assert w.stalled and w.waiting == 1 and w.seconds_without_progress() == 61
    w.batch_finished(committed=True)  # it went through at last
    assert not w.stalled and w.seconds_without_progress() == 0


def test_a_backlog_worked_off_batch_after_batch_is_not_a_stall() -> None:
    w, clock = watch()
    for batch in range(100):
        w.lag_measured(50_000 - 500 * batch)
        w.batch_started(500)
        clock.now += 5
        w.batch_finished(committed=True)
    assert not w.stalled and w.seconds_without_progress() == 0


def test_a_lag_measured_before_the_last_batch_does_not_make_an_idle_consumer_wait() -> None:
    w, clock = watch()
    w.lag_measured(500)
    w.batch_started(500)
    w.batch_finished(committed=True)  # the backlog is done; the next measurement is later
    clock.now += 4
    assert w.waiting == 0 and w.seconds_without_progress() == 0


def test_records_waiting_on_the_broker_that_are_never_fetched_are_a_stall() -> None:
    w, clock = watch()
    w.lag_measured(10)
    clock.now += 30
    w.lag_measured(12)  # more arrive, nothing is taken: still counted from the first look
    clock.now += 31
    assert w.stalled and w.waiting == 12


def test_a_batch_that_failed_is_no_progress() -> None:
    w, clock = watch()
    w.batch_started(3)
    clock.now += 30
    w.batch_finished(committed=False)
    w.lag_measured(3)  # redelivered later: the records still wait
    clock.now += 31
    assert w.stalled
