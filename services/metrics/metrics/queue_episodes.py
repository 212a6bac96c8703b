"""Registration queue episodes (挂号排队超过8人以上，应及时汇报), as a pure rule.

A queue is reported again and again (every minute, on every change). Telling the supervisor
on every report above the limit would be noise, so reports are folded into episodes with
hysteresis: an episode opens when a report is above `alert_above` (8) and closes only when a
report is at or below `clear_at` (5), so a queue hovering around 8-9 is one episode, not one
per crossing. The episode keeps its longest length, and its duration once closed.

A report older than the newest one seen for the queue (delivered late, or replayed) changes
nothing: a queue's state follows its reports' `reported_at`, not their arrival.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime


@dataclass(frozen=True, slots=True)
class QueueRules:
    alert_above: int = 8  # an episode opens above this length
    clear_at: int = 5  # and closes at or below this one

    def __post_init__(self) -> None:
        if self.clear_at > self.alert_above:
            raise ValueError("the clearing threshold must not be above the alert limit")


@dataclass(frozen=True, slots=True)
class Episode:
    episode_id: str
    opened_at: datetime
    opening_length: int
    max_length: int


@dataclass(frozen=True, slots=True)
class QueueState:
    """One queue as the reports so far left it (None: never reported)."""

    length: int | None = None
    reported_at: datetime | None = None
    episode: Episode | None = None


@dataclass(frozen=True, slots=True)
class ClosedEpisode:
    episode: Episode
    closed_at: datetime
    closing_length: int

    @property
    def duration_s(self) -> float:
        return (self.closed_at - self.episode.opened_at).total_seconds()


@dataclass(frozen=True, slots=True)
class Step:
    """What one report did: the new state, and the episode it opened or closed, if any."""

    state: QueueState
    opened: Episode | None = None
    closed: ClosedEpisode | None = None
    stale: bool = False


def episode_id_for(queue_id: str, opened_at: datetime) -> str:
    """Stable for a given opening report, so a replayed opening names the same episode."""
    return f"{queue_id}@{opened_at.isoformat()}"


def apply_report(
    state: QueueState, *, queue_id: str, length: int, at: datetime, rules: QueueRules
) -> Step:
    """The queue after a report of `length` people at `at`."""
    if state.reported_at is not None and at < state.reported_at:
        return Step(state, stale=True)
    current = state.episode
    if current is None:
        if length <= rules.alert_above:
            return Step(QueueState(length, at))
        opened = Episode(episode_id_for(queue_id, at), at, length, length)
        return Step(QueueState(length, at, opened), opened=opened)
    if length <= rules.clear_at:
        closed = ClosedEpisode(current, at, length)
        return Step(QueueState(length, at), closed=closed)
    longest = replace(current, max_length=max(current.max_length, length))
    return Step(QueueState(length, at, longest))
